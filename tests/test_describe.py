import re

from groundcap.describe import describe_facts
from groundcap.records import Detection, Facts, ImageInfo, NamedColor, ObjectColor, OcrResult, Relation, Scene, SceneCue

from test_records import full_facts

SPACED = re.compile(r"\b\w \w \w\b")


def test_describe_reads_like_english():
    text = describe_facts(full_facts())
    assert text.splitlines() == [
        "Objects: a dog and a traffic light.",
        "Colors: the dog is black.",
        "Positions: the dog is to the left of the traffic light.",
        "Posture: the dog is lying.",
        "Setting: outdoors, daytime, a street.",
        'Text: "STOP".',
    ]
    assert "_" not in text and not SPACED.search(text)


def test_context_only_on_request():
    assert "golden retriever" not in describe_facts(full_facts())
    assert "Context: golden retriever." in describe_facts(full_facts(), context=True)


def test_nothing_detected_falls_back_to_the_palette():
    facts = Facts(ImageInfo(10, 10, "0"), palette=(NamedColor((0, 0, 200), "mediumblue", "blue", 0.6),
                                                   NamedColor((250, 250, 250), "snow", "white", 0.4)))
    assert describe_facts(facts) == "Objects: none detected.\nColors: the image is mostly blue and white."


def test_weak_scene_cues_are_left_out():
    facts = Facts(ImageInfo(10, 10, "0"), scene=Scene(SceneCue("night", 0.1), SceneCue("indoor", 0.9)))
    assert "night" not in describe_facts(facts) and "indoors" in describe_facts(facts)


def test_many_objects_never_space_out_characters():
    dets = tuple(Detection(lab, f"{lab}_{i}", (i * 30, 10, i * 30 + 25, 60), 0.9, (1000, 100))
                 for i, lab in enumerate(["dog", "dog", "cat", "traffic light", "person", "person", "person"], 1))
    dets = tuple(Detection(d.label, f"{d.label}_{n}", d.box, d.score, d.image_size)
                 for n, d in zip([1, 2, 1, 1, 1, 2, 3], dets))
    rels = tuple(Relation(a.instance_id, "left of", b.instance_id) for a, b in zip(dets, dets[1:]))
    colors = tuple(ObjectColor(d.instance_id, (NamedColor((1, 2, 3), "black", "black", 0.9),)) for d in dets)
    text = describe_facts(Facts(ImageInfo(1000, 100, "0"), dets, colors, relations=rels, ocr=OcrResult()))
    assert not SPACED.search(text) and "_" not in text
    assert text.startswith("Objects: three people, two dogs, a cat and a traffic light.")
