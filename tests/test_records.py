import json

import pytest

from groundcap.records import (
    ContextLabel, Detection, Facts, ImageInfo, NamedColor, ObjectColor, OcrResult, Posture, Relation, Scene, SceneCue,
)

INFO = ImageInfo(640, 480, "ab" * 32, "x.jpg", "RGB", 6)


def full_facts() -> Facts:
    dets = (Detection("dog", "dog_1", (10, 200, 300, 470), 0.9, (640, 480), "ssd"),
            Detection("traffic light", "traffic light_1", (400, 10, 420, 60), 0.55, (640, 480), "ssd"))
    return Facts(
        INFO, dets,
        (ObjectColor("dog_1", (NamedColor((20, 20, 20), "black", "black", 0.7),)),),
        (NamedColor((90, 150, 235), "cornflowerblue", "light blue", 0.5),),
        (Relation("dog_1", "left of", "traffic light_1", 0.3),),
        Scene(SceneCue("day", 0.8, ("sky",)), SceneCue("outdoor", 0.9), SceneCue("street", 0.5), 0.61),
        (ContextLabel("golden retriever", 0.4, "efficientnet-lite3"),),
        (Posture("dog_1", "lying", 0.5),),
        OcrResult("ok", ("STOP",)),
        (("detector", "ssd"),),
    )


def test_facts_round_trip_through_json():
    facts = full_facts()
    assert Facts.from_dict(json.loads(json.dumps(facts.to_dict()))) == facts


def test_counts_most_frequent_first():
    dets = tuple(Detection("person", f"person_{i}", (i * 10, 0, i * 10 + 5, 5), 0.9, (100, 100)) for i in (1, 2))
    dets += (Detection("bus", "bus_1", (50, 50, 90, 90), 0.9, (100, 100)),)
    assert Facts(ImageInfo(100, 100, "0"), dets).counts() == {"person": 2, "bus": 1}


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: Detection("dog", "dog_1", (10, 10, 5, 20), 0.9, (100, 100)), "empty or outside"),
        (lambda: Detection("dog", "dog_1", (10, 10, 200, 20), 0.9, (100, 100)), "outside"),
        (lambda: Detection("dog", "dog_1", (0, 0, 5, 5), 1.7, (100, 100)), "score"),
        (lambda: Detection("dog", "dog-1", (0, 0, 5, 5), 0.5, (100, 100)), "instance_id"),
        (lambda: Detection("", "dog_1", (0, 0, 5, 5), 0.5, (100, 100)), "label"),
        (lambda: Detection("dog", "dog_1", (0, 0, float("nan"), 5), 0.5, (100, 100)), "finite"),
        (lambda: Relation("dog_1", "beside", "cat_1"), "unknown predicate"),
        (lambda: Relation("dog_1", "left of", "dog_1"), "two different"),
        (lambda: NamedColor((300, 0, 0), "red", "red", 0.5), "rgb"),
        (lambda: ImageInfo(0, 10, "x"), "positive"),
        (lambda: OcrResult("maybe"), "status"),
        (lambda: Facts(INFO, (), (), (), (Relation("a_1", "left of", "b_1"),)), "not detected"),
        (lambda: Facts(INFO, (Detection("dog", "dog_1", (0, 0, 5, 5), 0.5, (640, 480)),) * 2), "unique"),
    ],
)
def test_records_validate(make, error):
    with pytest.raises(ValueError, match=error):
        make()


def test_numpy_scalars_are_accepted():
    np = pytest.importorskip("numpy")
    assert Posture("person_1", "sitting", np.float32(0.4)).confidence == pytest.approx(0.4)
