"""Captioner: facts -> prompt -> candidates -> ranking, on real photos with the shipped detector."""

import dataclasses
import json

import numpy as np
import pytest

from groundcap import Captioner, CaptionResult, ImageError
from groundcap.config import CaptionConfig, GenerateConfig, PromptConfig, RerankConfig, merge
from groundcap.datastore.retriever import Retriever
from groundcap.llm_finetune.generators.base import Completion, Generator

pytestmark = pytest.mark.models


class Scripted(Generator):
    """A generator that answers from a script, to drive the pipeline's fault handling."""

    name = "scripted"

    def __init__(self, answers, raises=None):
        super().__init__(GenerateConfig(model="script"))
        self.answers, self.raises, self.prompts = answers, raises, []

    def generate_raw(self, prompts, n, facts=None):
        self.prompts.extend(prompts)
        if self.raises:
            raise self.raises
        return [list(self.answers) for _ in prompts]


def template_config(**prompt):
    return CaptionConfig(prompt=PromptConfig(**prompt), generate=GenerateConfig(generator="template"))


def test_the_grounding_check_uses_the_facts_spatial_config():
    config = merge(template_config(), {"facts": {"spatial": {"near": 0.3, "far": 0.7}}})
    (grounding,) = [s for s in Captioner(config).ranker.scorers if s.name == "grounding"]
    assert (grounding.spatial.near, grounding.spatial.far) == (0.3, 0.7)


def test_template_caption_of_the_bus(bus_path):
    result = Captioner(template_config()).caption(bus_path)
    assert isinstance(result, CaptionResult) and result.status == "ok"
    assert "bus" in result.caption and result.caption.endswith(".")
    assert result.facts.counts()["bus"] == 1
    assert "### Response:" in result.prompt  # the Alpaca prompt the LLM would see
    assert dict(result.models)["generator"] == "template:template"
    assert {k for k, _ in result.timings} >= {"decode", "facts", "prompt", "generate", "rerank"}


def test_result_round_trips_through_json(bus_path):
    result = Captioner(template_config()).caption(bus_path)
    assert CaptionResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_ranked_by_logprob_and_duplicates_dropped(bus_path):
    gen = Scripted([Completion("A bus on a street.", -1.2, greedy=True), Completion("People by a bus.", -0.4),
                    Completion("a bus on a street", -0.9), Completion("", -0.1)])
    config = CaptionConfig(generate=GenerateConfig(generator="template"), rerank=RerankConfig(("logprob",), (1.0,)))
    result = Captioner(config, generator=gen).caption(bus_path)
    assert [c.text for c in result.candidates if c.status == "ok"] == ["People by a bus.", "A bus on a street."]
    assert result.caption == "People by a bus." and result.candidates[0].scores == {"logprob": -0.4}
    assert result.candidates[-1].status == "empty"


def test_default_ranking_puts_a_grounded_caption_over_a_confident_invention(bus_path):
    gen = Scripted([Completion("A dog sleeping on a red sofa.", -0.2, greedy=True),
                    Completion("People standing by a blue bus.", -1.5)])
    result = Captioner(template_config(), generator=gen).caption(bus_path)
    assert result.caption == "People standing by a blue bus."
    best, invented = result.candidates
    assert set(best.scores) == {"grounding", "clip", "cider"} and best.scores["grounding"] == 1.0
    assert invented.scores["grounding"] < 0 and invented.logprob > best.logprob  # the invention was more confident
    assert {(c.kind, c.verdict) for c in invented.claims} >= {("object", "contradicted")}
    assert all(c.verdict == "supported" for c in best.claims if c.kind == "object")
    assert json.loads(json.dumps(result.to_dict()))["candidates"][0]["claims"]


@pytest.mark.parametrize("answers, raises, status", [
    ([Completion(""), Completion("   ")], None, "fallback"),
    ([Completion("!!! ...")], None, "fallback"),
    ([Completion("", error="HTTP 503 after 4 retries")], None, "error"),  # the endpoint never answered
    ([], RuntimeError("the endpoint is down"), "error"),
])
def test_unusable_candidates_fall_back_to_the_template(bus_path, answers, raises, status):
    result = Captioner(template_config(), generator=Scripted(answers, raises)).caption(bus_path)
    assert result.status == status and result.detail
    assert result.candidates[0].status == "fallback" and result.caption == result.candidates[0].text
    assert "bus" in result.caption


def test_nothing_detected_still_gets_a_caption():
    img = np.zeros((120, 160, 3), np.uint8)
    img[:60] = (90, 150, 235)
    img[60:] = (240, 242, 245)
    result = Captioner(template_config()).caption(img)
    assert result.facts.detections == () and result.caption.endswith(".") and len(result.caption) > 5


def test_sidecar_caption_is_merged_into_the_prompt(bus_path, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(bus_path.read_bytes())
    photo.with_suffix(".txt").write_text("Madrid's electric bus no. 35")
    gen = Scripted([Completion("A bus.", -1.0)])
    Captioner(template_config(), generator=gen).caption(photo)
    assert "Madrid's electric bus no. 35" in gen.prompts[0].as_text()


def test_binary_sidecar_does_not_crash(bus_path, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(bus_path.read_bytes())
    photo.with_suffix(".txt").write_bytes(bytes(range(256)) * 100)
    gen = Scripted([Completion("A bus.", -1.0)])
    Captioner(template_config(), generator=gen).caption(photo)
    assert "\x00" not in gen.prompts[0].as_text()


def test_bad_image_raises_image_error(tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"")
    with pytest.raises(ImageError, match="x.jpg"):
        Captioner(template_config()).caption(bad)


def test_few_shot_examples_come_from_the_train_split(flickr_dir, bus_path):
    gen = Scripted([Completion("A bus.", -1.0)])
    cfg = merge(template_config(), {"prompt": {"few_shot": 2, "examples": str(flickr_dir / "captions.jsonl")}})
    Captioner(cfg, generator=gen).caption(bus_path)
    text = gen.prompts[0].as_text()
    assert text.count("### Response:") == 3  # two answered examples, then the query


def test_chat_template_through_the_tiny_llama_tokenizer(bus_path, tmp_path):
    gen = Scripted([Completion("A bus.", -1.0)])
    Captioner(CaptionConfig(prompt=PromptConfig(template="chat")), generator=gen).caption(bus_path)
    assert gen.prompts[0].text is None and gen.prompts[0].messages[0][0] == "system"


def test_user_json_template_with_cot_example_and_regex(bus_path, zidane_path, tmp_path):
    (tmp_path / "example.jpg").write_bytes(zidane_path.read_bytes())
    template = tmp_path / "mine.json"
    template.write_text(json.dumps({
        "system_prompt": "You caption photos.", "prompt_prefix": "Facts:\n", "prompt_suffix": "\nAnswer as <caption>.",
        "regex": r"<(.+?)>", "cot_prompt": {"image": "example.jpg", "explanation": "Two men: <Two men talk.>"}}))
    gen = Scripted([Completion("Sure: <People wait for a bus.>", -0.5), Completion("no brackets here", -0.1)])
    result = Captioner(template_config(template=str(template)), generator=gen).caption(bus_path)
    assert result.caption == "People wait for a bus."
    assert [c.status for c in result.candidates] == ["ok", "no_match"]
    text = gen.prompts[0].as_text()
    assert "Two men: <Two men talk.>" in text and "two people" in text.lower()  # the example image's facts


def test_metadata_template_gives_structured_output(bus_path):
    answer = '{"title": "City bus", "description": "People stand by a blue bus.", "keywords": ["bus"], ' \
             '"tags": ["street"], "ocr_texts": []}'
    gen = Scripted([Completion(answer, -0.3), Completion("{not json", -0.2)])
    result = Captioner(template_config(template="metadata"), generator=gen).caption(bus_path)
    assert result.caption == "People stand by a blue bus." and result.best.structured["title"] == "City bus"
    assert result.candidates[1].status == "invalid_json"


def test_metadata_with_few_shot_is_a_config_error():
    from groundcap.errors import ConfigError

    with pytest.raises(ConfigError, match="few-shot"):
        Captioner(template_config(template="metadata", few_shot=2, examples="x.jsonl"))


def test_adapter_metadata_fills_in_base_model_and_template(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "groundcap_adapter.json").write_text(json.dumps({"base_model": "my-base", "template": "chat"}))
    cfg = CaptionConfig(generate=GenerateConfig(generator="template", adapter=str(adapter)))
    captioner = Captioner(cfg, generator=Scripted([Completion("A bus.", -1.0)]))
    assert captioner.config.generate.model == "my-base"
    assert captioner.config.prompt.template == "chat"


class NearStore:
    """A datastore stand-in that always finds the same two photos."""

    def __init__(self):
        self.calls = []

    def neighbours(self, image, k):
        from groundcap.records import Neighbour

        self.calls.append((image.shape, k))
        return (Neighbour("a.jpg", ("a red bus stops on a city street .",), 0.9),
                Neighbour("b.jpg", ("people wait by a bus .",), 0.8))[:k]


def test_retrieved_captions_reach_the_prompt_the_ranking_and_the_result(bus_path):
    from groundcap.config import RetrieveConfig

    gen = Scripted([Completion("People standing by a bus.", -1.0, greedy=True),
                    Completion("A red bus stops on a city street.", -1.0)])
    config = dataclasses.replace(template_config(), rerank=RerankConfig(("consensus",), (1.0,)),
                                 retrieve=RetrieveConfig(neighbours=2))
    captioner = Captioner(config, generator=gen)
    captioner.retriever = Retriever(store := NearStore(), 2)
    result = captioner.caption(bus_path)
    assert store.calls == [((1080, 810, 3), 2)]
    assert "- A red bus stops on a city street.\n- People wait by a bus." in gen.prompts[0].messages[-1][1]
    assert [n.key for n in result.neighbours] == ["a.jpg", "b.jpg"]
    assert result.caption == "A red bus stops on a city street."  # agrees with what people wrote of similar photos
    assert "retrieve" in dict(result.timings)
    assert CaptionResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_the_prompt_shows_the_first_neighbours_and_the_ranking_compares_with_all(bus_path):
    from groundcap.config import RetrieveConfig
    from groundcap.data.images import load_image

    gen = Scripted([Completion("People standing by a bus.", -1.0, greedy=True),
                    Completion("A red bus stops on a city street.", -1.0)])
    config = dataclasses.replace(template_config(), rerank=RerankConfig(("cider",), (1.0,)),
                                 retrieve=RetrieveConfig(neighbours=1, rank_neighbours=2))
    assert Retriever.from_config(dataclasses.replace(config.retrieve, datastore="none")).k == 2
    captioner = Captioner(config, generator=gen)
    captioner.retriever = Retriever(store := NearStore(), 2)
    result = captioner.caption(bus_path)
    assert "- A red bus stops on a city street." in gen.prompts[0].messages[-1][1]
    assert "people wait by a bus" not in gen.prompts[0].messages[-1][1].lower()  # only the first is shown
    assert [n.key for n in result.neighbours] == ["a.jpg", "b.jpg"]
    assert result.caption == "A red bus stops on a city street." and "cider" in result.candidates[0].scores
    # the prompts alone (what the engines benchmark times) are the ones the pipeline wrote
    alone = captioner.prompts([result.facts], [None], [result.neighbours])
    assert alone[0].messages == gen.prompts[0].messages
    # a result saved with fewer neighbours than the ranking wants gets them retrieved again
    again = captioner.rerank([dataclasses.replace(result, neighbours=result.neighbours[:1])],
                             [load_image(bus_path)[0]])[0]
    assert [n.key for n in again.neighbours] == ["a.jpg", "b.jpg"] and len(store.calls) == 2


def test_no_datastore_means_no_retrieval(bus_path):
    from groundcap.config import RetrieveConfig

    captioner = Captioner(dataclasses.replace(template_config(), retrieve=RetrieveConfig(datastore="none")))
    assert not captioner.retriever.enabled and captioner.retriever.datastore is None
    result = captioner.caption(bus_path)
    assert result.neighbours == () and "Captions of similar photos" not in result.prompt


def test_the_shipped_datastore_finds_neighbours_for_a_real_photo(bus_path):
    from groundcap.config import RetrieveConfig

    config = dataclasses.replace(template_config(), retrieve=RetrieveConfig(datastore="embedded", neighbours=4))
    result = Captioner(config).caption(bus_path)
    ranked = config.retrieve.rank_neighbours  # retrieved for the ranking; the prompt shows the first 4
    assert len(result.neighbours) == ranked > 4 and len({n.key for n in result.neighbours}) == ranked
    sims = [n.similarity for n in result.neighbours]
    assert sims == sorted(sims, reverse=True) and 0 < sims[-1] < 1
    assert result.prompt.count("\n- ") >= 4 and "Captions of similar photos" in result.prompt
    assert result.prompt.split("Captions of similar photos")[1].count("\n- ") == 4
    assert any("bus" in c.lower() for n in result.neighbours for c in n.captions)  # a street scene finds buses
