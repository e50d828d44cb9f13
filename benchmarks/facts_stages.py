"""Facts stage costs, each against its raw library on the same decoded photos.

- detect (ssd-mobilenet-v2): our ``Detector.detect`` (blob, forward, id map,
  NMS, numbering) against ``cv2.dnn`` blob + forward alone. Target ≤ 1.05×.
- detect (yolov8n, random weights): ours against ``YOLO.predict`` alone. Target ≤ 1.05×.
- colors + spatial + scene rules: their time as a share of the SSD detect stage. Target < 10%.
- context classifier (EfficientNet-Lite3) as a share of detect, reported (no target).
- facts end to end (decode → facts) in images/s over all the photos.
- detect (yolov8n) runs last: after torch has run, its idle OpenMP threads
  slow OpenCV down in the same process, which would skew the rows above.

Run: ``python -m benchmarks facts`` (``--images N --repeats R``).
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import Row, flickr_images, interleaved, main_for


def run(n_images: int = 100, repeats: int = 5) -> list[Row]:
    import cv2

    from groundcap.colors import colors_of, palette
    from groundcap.config import ColorConfig, DetectConfig, SpatialConfig
    from groundcap.data import load_image
    from groundcap.detect import create_detector
    from groundcap.detect.classify import ContextClassifier
    from groundcap.facts import FactsExtractor
    from groundcap.spatial import relations_between
    from groundcap.spatial.scene import scene_of

    paths = flickr_images(n_images)
    arrays = [load_image(p)[0] for p in paths]
    rows = []

    ssd = create_detector("ssd-mobilenet-v2")
    net = ssd._net  # the same loaded network, so only our wrapping differs

    def raw_ssd():
        for a in arrays:
            net.setInput(cv2.dnn.blobFromImage(a, size=(300, 300), swapRB=False))
            net.forward()

    def ours_ssd():
        for a in arrays:
            ssd.detect(a)

    o, r = interleaved(ours_ssd, raw_ssd, repeats)
    rows.append(Row("detect ssd-mobilenet-v2 vs cv2.dnn", o, r, target="≤ 1.05×", passed=None))
    rows[-1].passed = rows[-1].ratio <= 1.05

    dets = [ssd.detect(a) for a in arrays]
    clf = ContextClassifier()
    labels = [clf.classify(a) for a in arrays]
    cc, sc = ColorConfig(), SpatialConfig()

    def rules():
        for a, d, lab in zip(arrays, dets, labels):
            colors_of(a, d, cc)
            if not d:
                palette(a, cc)
            relations_between(d, sc)
            scene_of(a, d, lab)

    o, r = interleaved(rules, ours_ssd, repeats)
    rows.append(Row("colors + spatial + scene vs detect", o, r, target="< 0.10", passed=None))
    rows[-1].passed = rows[-1].ratio < 0.10

    def classify():
        for a in arrays:
            clf.classify(a)

    o, r = interleaved(classify, ours_ssd, repeats)
    rows.append(Row("context classifier vs detect", o, r, note="reported, no target"))

    ex = FactsExtractor()
    all_paths = flickr_images(10_000)
    ex.extract(all_paths[0])
    t = time.perf_counter()
    for p in all_paths:
        ex.extract(p)
    per_img = (time.perf_counter() - t) / len(all_paths)
    rows.append(Row(f"facts end to end over {len(all_paths)} photos, s/img", [per_img], [per_img],
                    note=f"{1 / per_img:.1f} images/s, one process"))

    # Last: once torch has run, its idle OpenMP threads slow OpenCV in the same process.
    try:
        yolo = create_detector(DetectConfig(detector="yolov8n.yaml"))
    except Exception as e:  # the yolo extra is optional
        print(f"skipping yolo: {e}")
    else:
        model = yolo._model

        def raw_yolo():
            for a in arrays:
                model.predict(np.ascontiguousarray(a[..., ::-1]), conf=0.4, iou=0.5, max_det=60, imgsz=640, verbose=False)

        def ours_yolo():
            for a in arrays:
                yolo.detect(a)

        o, r = interleaved(ours_yolo, raw_yolo, max(3, repeats // 2))
        rows.append(Row("detect yolov8n (random) vs YOLO.predict", o, r, target="≤ 1.05×"))
        rows[-1].passed = rows[-1].ratio <= 1.05

    return rows


def main(argv: list[str] | None = None) -> int:
    return main_for("facts", run, __doc__, argv, {"images": 100, "repeats": 5})


if __name__ == "__main__":
    raise SystemExit(main())
