"""``groundcap run --generator openai`` against a misbehaving endpoint: faults, bad answers, bad templates, the key.

Every test runs the real command in-process (SSD facts, the grounding check)
against :class:`fake_openai.FakeOpenAI` on 127.0.0.1 and reads the Parquet
rows back. Which image meets which fault is set by a sidecar prior caption
(``IMAGE.txt``): its marker lands in that image's prompt, and the server
answers by what the prompt holds, so the outcome does not depend on the order
in which concurrent requests arrive.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from fake_openai import Reply, closed_port_url, serve  # noqa: F401 - serve is a fixture
from groundcap.cli import main
from groundcap.config import GenerateConfig
from groundcap.llm_finetune.generators.openai import OpenAIGenerator

pytestmark = [pytest.mark.models, pytest.mark.reliability]

N_IMAGES = 3
TIMEOUT = 0.5
RETRIES = 2
RPM = 600  # 0.1 s between request starts: the limiter is on, and costs little
GOOD = "A dog runs across the green grass."
MARK = "FAULTY-IMAGE"  # the prior caption of the image a partial fault hits
SECRET = "sk-groundcap-test-SECRET-1234"
#: Loading the models, decoding and measuring: the run's time outside the generator.
OVERHEAD_S = 30.0


@pytest.fixture(autouse=True)
def quick_waits(monkeypatch, tmp_path):
    """No key (unless a test sets one), no stray ./.env, and waits short enough for a test.

    The caps are the generator's documented knobs; the time bound of
    openai.py is computed from them, so lowering them tightens that bound too.
    """
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(OpenAIGenerator, "backoff_cap", 1.0)
    monkeypatch.setattr(OpenAIGenerator, "retry_after_cap", 2.0)


@pytest.fixture
def photos(tmp_path: Path, flickr_dir: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for name in sorted(p.name for p in (flickr_dir / "images").glob("*.jpg"))[:N_IMAGES]:
        shutil.copy(flickr_dir / "images" / name, src / name)
    return src


def mark(photos: Path, *priors: str) -> list[str]:
    """Gives the first images these prior captions (sidecar .txt); returns their file names."""
    names = sorted(p.name for p in photos.glob("*.jpg"))[:len(priors)]
    for name, prior in zip(names, priors):
        (photos / name).with_suffix(".txt").write_text(prior + "\n")
    return names


def prompt_of(body: dict[str, Any]) -> str:
    return body["messages"][-1]["content"]


def run(src: Path, out: Path, url: str, *extra: str, retries: int = RETRIES, n: int = 1) -> tuple[int, float]:
    """``groundcap run`` with the openai generator; returns the exit code and the wall time."""
    argv = ["run", str(src), "--out", str(out), "--generator", "openai", "--base-url", url, "--model", "fake",
            "--scorers", "grounding", "--weights", "1", "--progress", "false", "--formats", "parquet",
            "--timeout", str(TIMEOUT), "--max-retries", str(retries), "--requests-per-minute", str(RPM),
            "-n", str(n), *extra]
    start = time.monotonic()
    code = main(argv)
    return code, time.monotonic() - start


def rows(out: Path) -> dict[str, dict[str, Any]]:
    import pyarrow.parquet as pq

    return {r["source"]: r for p in sorted((out / "shards").glob("*.parquet")) for r in pq.read_table(p).to_pylist()}


def documented_bound(url: str, prompts: int, attempts: int, retries: int = RETRIES, concurrency: int = 4) -> float:
    """openai.py's worst case for a batch: ``ceil(P / concurrency) * 2 * max_request_seconds`` plus the rate limit."""
    gen = OpenAIGenerator(GenerateConfig(model="fake", base_url=url, timeout=TIMEOUT, max_retries=retries))
    return math.ceil(prompts / concurrency) * 2 * gen.max_request_seconds + attempts * 60 / RPM


def generate_seconds(got: dict[str, dict[str, Any]]) -> float:
    """Time in the generator: each row holds its share of its batch's time, so the rows sum to the whole."""
    return sum(r["time_generate"] for r in got.values())


# -- endpoint faults -------------------------------------------------------------------

ATTEMPTS = RETRIES + 1
FAULTS = [
    # id, replies (None: nothing listens), what the error says, least seconds in the generator
    ("429-retry-after", [Reply(429, {"Retry-After": "1"})], "HTTP 429 after 2 retries", 2.0),
    ("429-no-retry-after", [Reply(429)], "HTTP 429 after 2 retries", 0.25 + 0.5),
    ("500", [Reply(500)], "HTTP 500 after 2 retries", 0.0),
    ("503", [Reply(503, body={"error": {"message": "overloaded"}})], "HTTP 503 after 2 retries: overloaded", 0.0),
    ("connection-refused", None, "connection refused (after 2 retries)", 0.0),
    ("slower-than-timeout", [Reply(delay=30)], f"timed out after {TIMEOUT:g} s (after 2 retries)", 3 * TIMEOUT),
    ("trickling-body", [Reply(trickle=0.2)], f"timed out after {TIMEOUT:g} s (after 2 retries)", 3 * TIMEOUT),
    ("truncated-body", [Reply(truncate=True)], "truncated response body (after 2 retries)", 0.0),
    ("invalid-json", [Reply(body=b'{"choices": [')], "invalid JSON in response (after 2 retries)", 0.0),
]


@pytest.mark.parametrize("replies, error, min_s", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_endpoint_fault_fails_each_image_with_its_reason(serve, photos, tmp_path, replies, error, min_s):
    server = serve(replies) if replies is not None else None
    url = server.url if server else closed_port_url()

    code, wall = run(photos, tmp_path / "out", url)

    assert code == 1  # some images failed; not a crash (2 would be a config error)
    got = rows(tmp_path / "out")
    assert len(got) == N_IMAGES
    for r in got.values():
        assert r["status"] == "generation_error", r
        assert r["error"] == f"generation failed: {error}"
        assert r["caption"] and r["chosen"] == 0  # the template sentence stands in, and says so
        assert [c["status"] for c in json.loads(r["candidates"])] == ["fallback", "error"]
    if server is not None:
        per_prompt = defaultdict(list)
        for a in server.arrivals:
            per_prompt[prompt_of(a.body)].append(a.at)
        assert len(per_prompt) == N_IMAGES and all(len(t) == ATTEMPTS for t in per_prompt.values())
        if "Retry-After" in replies[0].headers:  # the server's word was heeded between attempts
            assert min(b - a for t in per_prompt.values() for a, b in zip(t, t[1:])) >= 0.95
    bound = documented_bound(url, N_IMAGES, N_IMAGES * ATTEMPTS)
    assert min_s <= generate_seconds(got) <= bound
    assert wall <= bound + OVERHEAD_S


def test_fault_on_one_image_leaves_the_others_captioned_and_retry_failed_redoes_it(serve, photos, tmp_path):
    [faulty] = mark(photos, MARK)
    healed = False
    server = serve(lambda i, body: Reply(500) if MARK in prompt_of(body) and not healed else Reply(text=GOOD))

    code, wall = run(photos, tmp_path / "out", server.url)

    assert code == 1
    got = rows(tmp_path / "out")
    assert got.pop(faulty)["error"] == "generation failed: HTTP 500 after 2 retries"
    assert [(r["status"], r["caption"], r["error"]) for r in got.values()] == [("ok", GOOD, "")] * (N_IMAGES - 1)
    assert len(server.arrivals) == ATTEMPTS + N_IMAGES - 1
    assert wall <= documented_bound(server.url, N_IMAGES, len(server.arrivals)) + OVERHEAD_S

    healed = True  # the endpoint is back: the failed image, and only it, is asked again
    assert run(photos, tmp_path / "out", server.url, "--retry-failed")[0] == 0
    assert rows(tmp_path / "out")[faulty]["status"] == "ok"
    assert len(server.arrivals) == ATTEMPTS + N_IMAGES


def test_transient_429_then_200_ends_ok(serve, photos, tmp_path):
    seen: set[str] = set()

    def first_429(i: int, body: dict[str, Any]) -> Reply:
        prompt = prompt_of(body)
        if prompt in seen:
            return Reply(text=GOOD)
        seen.add(prompt)
        return Reply(429, {"Retry-After": "0.2"})

    server = serve(first_429)
    code, _ = run(photos, tmp_path / "out", server.url)

    assert code == 0
    assert {(r["status"], r["caption"], r["error"]) for r in rows(tmp_path / "out").values()} == {("ok", GOOD, "")}
    assert len(server.arrivals) == 2 * N_IMAGES


# -- bad answers ------------------------------------------------------------------------

TAGGED = {"name": "tagged", "system_prompt": "You write captions.", "prompt_prefix": "Facts:\n",
          "prompt_suffix": "\n\nAnswer as <caption>...</caption>.", "regex": "<caption>(.+?)</caption>"}
META_GOOD = json.dumps({"title": "Dog on grass", "description": GOOD, "keywords": ["dog"], "tags": ["dog"],
                        "ocr_texts": []})
LOOP = "A dog runs and runs and runs and runs and runs and runs and runs and runs and runs and"
RUN_ON = ("A man in a red shirt is riding a bicycle down the street while a dog runs beside him "
          "and the sun sets behind the")

BAD_ANSWERS = [
    # id, extra flags, the other images' answer, the bad answer, its finish_reason,
    # (candidate status, part of its detail), (row status, caption) -- None: the template fallback
    ("empty", (), GOOD, "", "stop", ("empty", "the model returned no text"), None),
    ("whitespace", (), GOOD, " \n\t ", "stop", ("empty", "the model returned no text"), None),
    ("punctuation", (), GOOD, "!!! ??? ... ;;; --- !!!", "stop", ("garbage", "fewer than two words"), None),
    ("repeated-token", (), GOOD, "dog " * 30, "length", ("garbage", "one word repeated"), None),
    ("never-ending-loop", ("--max-new-tokens", "20"), GOOD, LOOP, "length",
     ("garbage", "the same words repeated"), None),
    ("cut-mid-sentence", ("--max-new-tokens", "24"), GOOD, RUN_ON, "length",
     ("garbage", "cut off by the token limit before a sentence ended"), None),
    ("cut-after-a-comma", ("--max-new-tokens", "12"), GOOD, "A man in a red shirt, riding a bicycle down the",
     "length", ("ok", ""), ("ok", "A man in a red shirt.")),  # the part before the comma is kept
    ("regex-no-match", ("--template", "tagged.json"), f"<caption>{GOOD}</caption>", GOOD, "stop",
     ("no_match", "no match for '<caption>(.+?)</caption>'"), None),
    ("metadata-broken-json", ("--template", "metadata"), META_GOOD, "{title: Dog, description: A dog}", "stop",
     ("invalid_json", "not JSON after one repair"), None),
    ("metadata-cut-json", ("--template", "metadata"), META_GOOD, '{"title": "Dog", "description": "A dog r', "length",
     ("garbage", "cut off by the token limit"), None),  # the JSON is repaired; the description is not whole
    ("metadata-missing-key", ("--template", "metadata"), META_GOOD, json.dumps({"title": "Dog"}), "stop",
     ("invalid_json", "missing description"), None),
    ("metadata-prose", ("--template", "metadata"), META_GOOD, "Sure, here is a dog on the grass.", "stop",
     ("invalid_json", "no JSON object in the answer"), None),
]


@pytest.mark.parametrize("extra, good, bad, finish_reason, candidate, row",
                         [b[1:] for b in BAD_ANSWERS], ids=[b[0] for b in BAD_ANSWERS])
def test_bad_answer_gets_a_status_and_the_others_are_captioned(serve, photos, tmp_path, extra, good, bad,
                                                               finish_reason, candidate, row):
    (tmp_path / "tagged.json").write_text(json.dumps(TAGGED))
    [faulty] = mark(photos, MARK)
    server = serve(lambda i, body: Reply(text=bad, finish_reason=finish_reason) if MARK in prompt_of(body)
                   else Reply(text=good))

    code, _ = run(photos, tmp_path / "out", server.url, *extra)

    got = rows(tmp_path / "out")
    bad_row = got.pop(faulty)
    cands = json.loads(bad_row["candidates"])
    status, detail = candidate
    if row is None:  # unusable: the template sentence, and the candidate's reason in the error column
        assert code == 0  # a fallback caption is a caption
        assert bad_row["status"] == "fallback" and bad_row["caption"]
        assert [c["status"] for c in cands] == ["fallback", status]
        assert detail in cands[1]["detail"]
        assert bad_row["error"] == f"every candidate was unusable ({status}: {cands[1]['detail']})"
        assert cands[1]["raw"] == bad  # what the model said is kept for auditing
    else:
        assert (bad_row["status"], bad_row["caption"]) == row and [c["status"] for c in cands] == [status]
    assert [(r["status"], r["caption"]) for r in got.values()] == [("ok", GOOD)] * (N_IMAGES - 1)
    assert len(server.arrivals) == N_IMAGES  # 200 answers are not retried


# -- bad templates ------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('{"name": "x", "system_prompt": "s",', "not valid JSON"),
    (json.dumps({**TAGGED, "regex": "<caption>(.+?</caption>"}), "'regex' '<caption>(.+?</caption>' does not compile"),
], ids=["malformed-json", "invalid-regex"])
def test_bad_template_stops_before_any_image(serve, photos, tmp_path, capsys, text, message):
    template = tmp_path / "bad.json"
    template.write_text(text)
    server = serve([Reply(text=GOOD)])

    code, _ = run(photos, tmp_path / "out", server.url, "--template", str(template))

    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {template}: " in err and message in err
    assert not list((tmp_path / "out").glob("shards/*.parquet")) and not server.arrivals


# -- the API key ----------------------------------------------------------------------------

def test_api_key_reaches_the_endpoint_and_nothing_else(serve, photos, tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET}"}}  # as some servers do
    rejected, overloaded = mark(photos, "REJECTED", "OVERLOADED")

    def answer(i: int, body: dict[str, Any]) -> Reply:
        prompt = prompt_of(body)
        if "REJECTED" in prompt:
            return Reply(400, body=echo)  # not retried
        return Reply(503, body=echo) if "OVERLOADED" in prompt else Reply(text=GOOD)

    server = serve(answer)
    out = tmp_path / "out"
    code, _ = run(photos, out, server.url, n=2)
    assert main(["report", str(out)]) == 0

    assert code == 1
    assert {a.headers.get("authorization") for a in server.arrivals} == {f"Bearer {SECRET}"}  # it was there to leak
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"config.json", "stats.json", "report.html"} <= {p.name for p in files}
    assert any(p.suffix == ".parquet" for p in files)
    assert [p for p in files if SECRET.encode() in p.read_bytes()] == []
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert caplog.records and SECRET not in caplog.text
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    got = rows(out)  # the endpoint's message is kept, the key in it redacted
    echoed = "Incorrect API key provided: <api key>"
    assert got[rejected]["error"] == f"generation failed: HTTP 400 Bad Request: {echoed}"
    assert got[overloaded]["error"] == f"generation failed: HTTP 503 after 2 retries: {echoed}"
