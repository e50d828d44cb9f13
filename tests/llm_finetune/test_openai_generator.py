"""OpenAIGenerator against a real HTTP server on 127.0.0.1: answers, faults, limits, secrecy.

The server is :class:`fake_openai.FakeOpenAI` (shared with the end-to-end
tests in tests/reliability/test_endpoint_faults.py), started by the ``serve``
fixture.
"""

from __future__ import annotations

import email.message
import email.utils
import json
import logging
import time
from typing import Any

import pytest

from fake_openai import OK, Reply, closed_port_url, serve  # noqa: F401 - serve is a fixture
from groundcap.config import GenerateConfig
from groundcap.errors import ConfigError
from groundcap.llm_finetune.generators.base import Completion
from groundcap.llm_finetune.generators.http import retry_after as _retry_after
from groundcap.llm_finetune.generators.openai import OpenAIGenerator
from groundcap.records.prompt import Prompt

KEY_ENV = "GROUNDCAP_TEST_OPENAI_KEY"
KEY = "sk-test-Secret0123456789"


@pytest.fixture(autouse=True)
def key_and_cwd(monkeypatch, tmp_path):
    """A known key in the environment, and a clean working directory (no stray .env)."""
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.chdir(tmp_path)


def make(url: str, backoff_base: float = 0.05, **overrides: Any) -> OpenAIGenerator:
    """A generator tuned for fast tests: short waits, no rate limit unless asked."""
    cfg = dict(model="test-model", base_url=url, api_key_env=KEY_ENV, n=3, requests_per_minute=0,
               timeout=1.0, max_retries=2, concurrency=4)
    gen = OpenAIGenerator(GenerateConfig(**{**cfg, **overrides}))
    gen.backoff_base = backoff_base
    gen.backoff_cap = max(0.2, 4 * backoff_base)
    gen.retry_after_cap = 1.5
    return gen


def prompt(text: str = "a red bus", stop: tuple[str, ...] = ()) -> Prompt:
    return Prompt(messages=(("system", "You write captions."), ("user", text)), stop=stop)


# -- happy path ------------------------------------------------------------------

def test_greedy_then_samples_with_mean_logprob(serve):
    server = serve([OK])
    gen = make(server.url)

    [out] = gen.generate_raw([prompt(stop=("###",))], n=3)

    assert [c.greedy for c in out] == [True, False, False]
    assert [c.text for c in out] == ["greedy 0.0: a red bus", "sample 0.0: a red bus", "sample 0.1: a red bus"]
    assert all(c.logprob == pytest.approx(-1.0) and c.error is None for c in out)
    greedy, sampled = (a.body for a in server.arrivals)
    common = {"model": "test-model", "messages": prompt().chat(), "max_tokens": 40, "seed": 0,
              "stop": ["###"], "logprobs": True}
    assert greedy == {**common, "temperature": 0.0, "top_p": 1.0, "n": 1}
    assert sampled == {**common, "temperature": 0.7, "top_p": 0.9, "n": 2}


def test_n_1_sends_only_the_greedy_request(serve):
    server = serve([OK])
    [out] = make(server.url).generate_raw([prompt()], n=1)
    assert len(server.arrivals) == 1 and [c.greedy for c in out] == [True]


@pytest.mark.parametrize("env_value, dotenv, expected", [
    (KEY, None, f"Bearer {KEY}"),
    (KEY, f"{KEY_ENV}=from-dotenv\n", f"Bearer {KEY}"),  # the environment wins
    (None, f'# keys\n{KEY_ENV}="from-dotenv"\n', "Bearer from-dotenv"),
    (None, f"export {KEY_ENV}='quoted'\nOTHER=x\n", "Bearer quoted"),
    (None, "OTHER=x\n", None),  # no key: a local endpoint, no Authorization header
    (None, None, None),
], ids=["env", "env-over-dotenv", "dotenv-double-quotes", "dotenv-export-single-quotes", "dotenv-other-key", "none"])
def test_authorization_header(serve, monkeypatch, tmp_path, env_value, dotenv, expected):
    if env_value is None:
        monkeypatch.delenv(KEY_ENV)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    server = serve([OK])

    [out] = make(server.url).generate_raw([prompt()], n=1)

    assert out[0].error is None
    assert server.arrivals[0].headers.get("authorization") == expected


# -- faults ------------------------------------------------------------------------

FAULTS = [
    # id, replies (None: nothing listens), overrides, error substring (None: success), requests, min seconds
    ("429-retry-after", [Reply(429, {"Retry-After": "1"}), OK], {}, None, 2, 1.0),
    ("429-backoff", [Reply(429), OK], {"backoff_base": 0.5}, None, 2, 0.25),
    ("500-then-ok", [Reply(500), OK], {}, None, 2, 0.0),
    ("502-then-ok", [Reply(502), OK], {}, None, 2, 0.0),
    ("503-always", [Reply(503, body={"error": {"message": "overloaded"}})], {},
     "HTTP 503 after 2 retries: overloaded", 3, 0.0),
    ("connection-refused", None, {}, "connection refused (after 2 retries)", 0, 0.0),
    ("slower-than-timeout", [Reply(delay=5)], {"timeout": 0.5}, "timed out after 0.5 s (after 2 retries)", 3, 1.5),
    ("trickling-body", [Reply(trickle=0.2)], {"timeout": 0.5}, "timed out after 0.5 s", 3, 1.5),
    ("truncated-then-ok", [Reply(truncate=True), OK], {}, None, 2, 0.0),
    ("truncated-always", [Reply(truncate=True)], {}, "truncated response body (after 2 retries)", 3, 0.0),
    ("invalid-json", [Reply(body=b'{"choices": [')], {}, "invalid JSON in response (after 2 retries)", 3, 0.0),
    ("html-error-page", [Reply(body=b"<html>oops</html>")], {"max_retries": 1}, "invalid JSON", 2, 0.0),
    ("no-retries", [Reply(503)], {"max_retries": 0}, "HTTP 503 after 0 retries", 1, 0.0),
    ("401", [Reply(401, body={"error": {"message": "Incorrect API key"}})], {}, "HTTP 401 Unauthorized", 1, 0.0),
    ("403", [Reply(403)], {}, "HTTP 403 Forbidden", 1, 0.0),
    ("404", [Reply(404, body={"error": {"message": "model 'test-model' not found"}})], {},
     "HTTP 404 Not Found: model 'test-model' not found", 1, 0.0),
    ("400", [Reply(400, body={"error": {"message": "max_tokens too large"}})], {},
     "HTTP 400 Bad Request: max_tokens too large", 1, 0.0),
    ("200-without-choices", [Reply(body={"object": "list"})], {}, "unexpected response", 1, 0.0),
]


@pytest.mark.parametrize("replies, overrides, error, requests, min_s",
                         [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_fault(serve, replies, overrides, error, requests, min_s):
    server = serve(replies) if replies is not None else None
    gen = make(server.url if server else closed_port_url(), **overrides)

    start = time.monotonic()
    [out] = gen.generate_raw([prompt()], n=1)
    elapsed = time.monotonic() - start

    if error is None:
        assert [(c.text, c.error) for c in out] == [("greedy 0.0: a red bus", None)]
    else:
        assert out == [Completion("", error=out[0].error)]
        assert error in out[0].error
    if server is not None:
        assert len(server.arrivals) == requests
    assert min_s <= elapsed <= gen.max_request_seconds + 0.5
    if min_s >= 1.0 and len(server.arrivals) == 2:  # the wait happened between the requests
        assert server.arrivals[1].at - server.arrivals[0].at >= min_s - 0.05


def test_samples_failing_keep_the_greedy_candidate(serve):
    server = serve(lambda i, body: Reply(503) if body["n"] > 1 else OK)
    [out] = make(server.url).generate_raw([prompt()], n=3)
    assert out == [Completion("greedy 0.0: a red bus", -1.0, True), Completion("", error="HTTP 503 after 2 retries")]


def test_one_failing_prompt_does_not_stop_the_others(serve):
    server = serve(lambda i, body: Reply(500) if "BAD" in json.dumps(body["messages"]) else OK)
    texts = ["a red bus", "BAD prompt", "a dog"]

    outs = make(server.url).generate_raw([prompt(t) for t in texts], n=2)

    assert [len(o) for o in outs] == [2, 1, 2]
    assert outs[1][0].text == "" and outs[1][0].error.startswith("HTTP 500 after 2 retries")
    for text, out in zip([texts[0], texts[2]], [outs[0], outs[2]]):
        assert [c.text for c in out] == [f"greedy 0.0: {text}", f"sample 0.0: {text}"]


# -- endpoint quirks ---------------------------------------------------------------

def test_endpoint_rejecting_n_gets_single_sample_requests(serve):
    reject = Reply(400, body={"error": {"message": "n must be 1 for this model", "param": "n"}})
    server = serve(lambda i, body: reject if body["n"] > 1 else OK)

    outs = make(server.url, concurrency=1).generate_raw([prompt("one"), prompt("two")], n=3)

    assert [[c.text for c in o] for o in outs] == [
        ["greedy 0.0: one", "sample 0.0: one", "sample 1.0: one"],
        ["greedy 0.0: two", "sample 0.0: two", "sample 1.0: two"],
    ]
    # greedy, rejected n=2, two singles; then the second prompt no longer tries n>1
    assert [a.body["n"] for a in server.arrivals] == [1, 2, 1, 1, 1, 1, 1]


def test_endpoint_rejecting_logprobs_is_asked_without(serve):
    reject = Reply(400, body={"error": {"message": "logprobs is not supported", "param": "logprobs"}})
    server = serve(lambda i, body: reject if body.get("logprobs") else OK)

    [out] = make(server.url).generate_raw([prompt()], n=2)

    assert [(c.text, c.logprob) for c in out] == [("greedy 0.0: a red bus", None), ("sample 0.0: a red bus", None)]
    assert ["logprobs" in a.body for a in server.arrivals] == [True, False, False]


# -- limits ------------------------------------------------------------------------

def test_rate_limit_spaces_requests(serve):
    server = serve([OK])
    make(server.url, requests_per_minute=120).generate_raw([prompt(str(i)) for i in range(4)], n=1)
    times = sorted(a.at for a in server.arrivals)
    assert len(times) == 4
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.45


def test_concurrency_is_bounded(serve):
    server = serve([Reply(delay=0.15)])
    outs = make(server.url, concurrency=2).generate_raw([prompt(str(i)) for i in range(6)], n=1)
    assert all(o[0].error is None for o in outs)
    assert server.max_in_flight == 2


def test_results_keep_prompt_order(serve):
    # later prompts answer first, so order comes from the generator, not arrival
    server = serve(lambda i, body: Reply(delay=0.2 - 0.05 * int(body["messages"][-1]["content"])))
    outs = make(server.url).generate_raw([prompt(str(i)) for i in range(4)], n=1)
    assert [o[0].text for o in outs] == [f"greedy 0.0: {i}" for i in range(4)]


# -- secrecy -------------------------------------------------------------------------

def test_key_never_shown(serve, caplog):
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    server = serve(lambda i, body: {
        "401": Reply(401, body=echo), "503": Reply(503, body=echo), "400": Reply(400, body=echo),
    }.get(body["messages"][-1]["content"], OK))
    caplog.set_level(logging.DEBUG)

    gen = make(server.url)
    outs = gen.generate_raw([prompt(p) for p in ["401", "503", "400", "ok"]], n=2)

    assert server.arrivals[0].headers["authorization"] == f"Bearer {KEY}"
    errors = [c.error for o in outs for c in o if c.error]
    assert len(errors) == 3
    shown = [repr(gen), str(gen), gen.model_id, repr(vars(gen)), caplog.text, *errors]
    assert not [s for s in shown if KEY in s]
    assert "<api key>" in " ".join(errors)  # the echoed key was redacted, not the message dropped


def test_key_with_bad_characters_is_refused_without_echo(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY + "\nX-Evil: 1")
    with pytest.raises(ConfigError) as info:
        make("http://127.0.0.1:9/v1")
    assert KEY not in str(info.value)


# -- configuration and helpers ---------------------------------------------------------

@pytest.mark.parametrize("overrides, match", [
    ({"model": ""}, "--model"),
    ({"base_url": "file:///etc/passwd"}, "http"),
    ({"timeout": 0}, "timeout"),
    ({"max_retries": -1}, "max_retries"),
])
def test_bad_config(overrides, match):
    with pytest.raises(ConfigError, match=match):
        make("http://127.0.0.1:9/v1", **overrides)


def test_model_id_and_time_bound():
    gen = OpenAIGenerator(GenerateConfig(model="m", timeout=2.0, max_retries=3))
    assert gen.model_id == "m"
    assert gen.max_request_seconds == 4 * 2.0 + 3 * 60.0


def _headers(**values: str) -> email.message.Message:
    msg = email.message.Message()
    for name, value in values.items():
        msg[name.replace("_", "-")] = value
    return msg


@pytest.mark.parametrize("headers, expected", [
    (_headers(Retry_After="2"), 2.0),
    (_headers(Retry_After="0.5"), 0.5),
    (_headers(Retry_After="-3"), 0.0),
    (_headers(retry_after="7"), 7.0),  # header names are case-insensitive
    (_headers(Retry_After="Wed, 21 Oct 2015 07:28:00 GMT"), 0.0),  # in the past
    (_headers(Retry_After="soon"), None),
    (_headers(retry_after_ms="250", Retry_After="9"), 0.25),
    (_headers(), None),
    (None, None),
], ids=["seconds", "fraction", "negative", "lowercase", "past-date", "garbage", "ms", "absent", "none"])
def test_retry_after(headers, expected):
    assert _retry_after(headers) == expected


def test_retry_after_http_date_in_the_future():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)  # built here: collection time is stale
    assert _retry_after(_headers(Retry_After=when)) == pytest.approx(30, abs=1.5)


@pytest.mark.parametrize("retry, retry_after, low, high", [
    (1, None, 0.25, 0.5),  # base 0.5, equal jitter
    (3, None, 1.0, 2.0),
    (20, None, 4.0, 8.0),  # capped
    (1, 3.0, 3.0, 3.0),  # the server's word
    (1, 500.0, 60.0, 60.0),  # but capped
])
def test_backoff(retry, retry_after, low, high):
    gen = OpenAIGenerator(GenerateConfig(model="m"))
    for _ in range(20):
        assert low <= gen._wait(retry, retry_after) <= high
