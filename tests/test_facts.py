"""The whole facts stage on real photos with the embedded models."""

import json

import numpy as np
import pytest

from groundcap import FactsConfig, ImageError, extract_facts
from groundcap.config import SceneConfig, merge
from groundcap.describe import describe_facts
from groundcap.facts import FactsExtractor

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def extractor():
    return FactsExtractor()


def test_bus_photo_facts(extractor, bus_path):
    facts = extractor.extract(bus_path)
    assert facts.counts()["bus"] == 1 and facts.counts()["person"] >= 3
    bus = next(d for d in facts.detections if d.label == "bus")
    assert "blue" in facts.colors_of(bus.instance_id).basic_names  # a blue and white city bus
    fronts = {r.subject for r in facts.relations if r.predicate == "in front of" and r.object == bus.instance_id}
    assert len(fronts) >= 2  # people stand in front of the bus
    assert facts.scene.location.value == "outdoor" and facts.scene.place.value == "street"
    assert dict(facts.models)["detector"] == "ssd_mobilenet_v2_coco_2018_03_29"
    assert facts.image.sha256 and (facts.image.width, facts.image.height) == (810, 1080)


def test_zidane_photo_facts(extractor, zidane_path):
    facts = extractor.extract(zidane_path)
    assert facts.counts() == {"person": 2}
    assert facts.scene.location.value != "outdoor"  # two men in suits, indoors


def test_path_pil_and_array_give_the_same_detections(extractor, bus_path):
    from PIL import Image

    a = extractor.extract(bus_path)
    b = extractor.extract(Image.open(bus_path))
    c = extractor.extract(np.asarray(Image.open(bus_path).convert("RGB")))
    assert a.detections == b.detections == c.detections
    assert describe_facts(a) == describe_facts(b) == describe_facts(c)


def test_deterministic_text_and_json(extractor, bus_path):
    a, b = extractor.extract(bus_path), extractor.extract(bus_path)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    assert describe_facts(a) == describe_facts(b)


def test_exif_rotation_is_applied_before_detection(extractor, bus_path, tmp_path):
    from PIL import Image

    img = Image.open(bus_path)
    rotated = img.rotate(90, expand=True)  # stored on its side (counter-clockwise)...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...and tagged "rotate 90 clockwise to view", which undoes it
    path = tmp_path / "sideways.jpg"
    rotated.save(path, exif=exif, quality=95)
    from groundcap.data import load_image

    upright, _ = load_image(path)
    original = np.asarray(img.convert("RGB"), dtype=np.float32)
    assert np.abs(upright.astype(np.float32) - original).mean() < 8  # JPEG noise only
    facts = extractor.extract(path)
    assert (facts.image.width, facts.image.height, facts.image.orientation) == (810, 1080, 6)
    assert facts.counts().get("bus") == 1


def test_blank_image_has_a_palette_and_no_objects(extractor):
    img = np.zeros((200, 300, 3), np.uint8)
    img[:100] = (90, 150, 235)
    img[100:] = (60, 150, 40)
    facts = extractor.extract(img)
    assert facts.detections == () and facts.colors == ()
    assert {c.basic for c in facts.palette} >= {"green"}
    assert describe_facts(facts).startswith("Objects: none detected.")


def test_one_pixel_image(extractor):
    facts = extractor.extract(np.full((1, 1, 3), 200, np.uint8))
    assert facts.detections == () and facts.image.width == 1


def test_bad_input_is_an_image_error(extractor, tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_text("<html>not an image</html>")
    with pytest.raises(ImageError, match="x.jpg"):
        extractor.extract(bad)


def test_extract_facts_reuses_models(bus_path):
    from groundcap import facts as facts_module

    facts_module._cached_extractor.cache_clear()
    extract_facts(bus_path)
    extract_facts(bus_path)
    assert facts_module._cached_extractor.cache_info().misses == 1


def test_pose_and_context_when_enabled(bus_path):
    cfg = merge(FactsConfig(), {"scene": {"pose": True, "context_min_score": 0.5}})
    facts = FactsExtractor(cfg).extract(bus_path)
    assert facts.postures and all(p.posture in {"standing", "running", "sitting", "lying", "jumping"}
                                  for p in facts.postures)
    assert [c.label for c in facts.context] == ["minibus"]
    assert ("pose", "movenet-lightning") in facts.models


def test_classifier_can_be_switched_off(bus_path):
    facts = FactsExtractor(FactsConfig(scene=SceneConfig(classifier="none"))).extract(bus_path)
    assert facts.context == () and "classifier" not in dict(facts.models)


def test_ocr_reports_why_it_was_skipped(bus_path):
    facts = FactsExtractor(FactsConfig(scene=SceneConfig(ocr="off"))).extract(bus_path)
    assert facts.ocr.status == "skipped" and facts.ocr.reason.startswith("disabled")
