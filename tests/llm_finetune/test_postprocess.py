import pytest

from groundcap.llm_finetune.generators.base import Completion
from groundcap.llm_finetune.postprocess import clean_caption, finish
from groundcap.records.prompt import Prompt

CHAT = Prompt(messages=(("user", "facts"),))
ALPACA = Prompt(messages=(("user", "facts"),), text="### Response:\n", stop=("###",))


@pytest.mark.parametrize("raw, expected", [
    ("A dog runs on the grass.", "A dog runs on the grass."),
    ("  \"A dog runs on the grass.\"  ", "A dog runs on the grass."),
    ("Sure! Here is a caption: A dog runs.", "A dog runs."),
    ("Caption: a dog runs. It is happy. The sun shines.", "A dog runs."),
    ("A dog runs on the grass<|im_end|>", "A dog runs on the grass."),
    ("A dog runs on the grass, chasing a red", "A dog runs on the grass."),
    ("A dog runs\n\nanother line", "A dog runs."),
    ("A man in St. Louis walks.", "A man in St. Louis walks."),
])
def test_clean_caption(raw, expected):
    assert clean_caption(raw) == expected


@pytest.mark.parametrize("completion, prompt, status", [
    (Completion("A black dog runs on the grass."), CHAT, "ok"),
    (Completion(""), CHAT, "empty"),
    (Completion("   \n "), CHAT, "empty"),
    (Completion("!!! ??? ..."), CHAT, "garbage"),
    (Completion("dog dog dog dog dog dog dog"), CHAT, "garbage"),
    (Completion("A dog runs and runs and runs and runs and"), CHAT, "garbage"),  # looped to the token limit
    (Completion("A dog runs and runs."), CHAT, "ok"),
    (Completion("A dog runs beside him while the sun sets behind the", truncated=True), CHAT, "garbage"),
    (Completion("A dog runs beside him while the sun sets behind the"), CHAT, "ok"),  # it may just lack a period
    (Completion("A dog on the grass, chasing a red", truncated=True), CHAT, "ok"),  # the part before the comma
    (Completion("A dog runs. It chases a red", truncated=True), CHAT, "ok"),  # the first sentence was complete
    (Completion("Objects: a dog. Colors: black."), CHAT, "garbage"),
    (Completion("The caption should be."), CHAT, "garbage"),
    (Completion("", error="HTTP 503 after 4 retries"), CHAT, "error"),
    (Completion("A dog runs.### Instruction: more"), ALPACA, "ok"),
    (Completion("Answer: <a dog runs>"), Prompt(messages=(("user", "x"),), regex=r"<(.+?)>"), "ok"),
    (Completion("a dog runs"), Prompt(messages=(("user", "x"),), regex=r"<(.+?)>"), "no_match"),
])
def test_finish_statuses(completion, prompt, status):
    cand = finish(completion, prompt)
    assert cand.status == status
    assert (cand.text != "") == (status == "ok")
    assert cand.raw == completion.text


def test_finish_keeps_logprob_and_greedy():
    cand = finish(Completion("A dog runs.", -0.5, greedy=True), CHAT, source="hf:x")
    assert (cand.logprob, cand.greedy, cand.source) == (-0.5, True, "hf:x")
