import pytest

from groundcap.detect.coco import COCO80, COCO90, coco90_to_label


def test_90_id_map_has_the_80_classes_once():
    assert len(COCO90) == 80
    assert sorted(COCO90.values()) == sorted(COCO80)
    assert len(set(COCO80)) == 80


@pytest.mark.parametrize(
    "class_id, label",
    [
        (0, None),  # background
        (1, "person"),
        (6, "bus"),
        (11, "fire hydrant"),
        (12, None),  # "street sign": unused by the released models
        (13, "stop sign"),  # the first id that shifts when 12 is skipped
        (18, "dog"),
        (26, None),
        (27, "backpack"),
        (44, "bottle"),
        (45, None),
        (62, "chair"),
        (67, "dining table"),
        (72, "tv"),
        (84, "book"),
        (88, "teddy bear"),
        (90, "toothbrush"),
        (91, None),
    ],
)
def test_coco90_ids(class_id, label):
    assert coco90_to_label(class_id) == label


def test_80_order_matches_ultralytics_coco_yaml():
    yaml = pytest.importorskip("yaml")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("ultralytics")
    if spec is None:
        pytest.skip("ultralytics not installed")
    data = yaml.safe_load((Path(spec.origin).parent / "cfg" / "datasets" / "coco.yaml").read_text())
    assert tuple(data["names"][i] for i in range(80)) == COCO80
