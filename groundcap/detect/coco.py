"""COCO label maps.

Two numberings exist. TensorFlow's Object Detection API (and so the shipped
SSD-MobileNet-v2) uses the 90 ids of the original COCO paper, with 0 as the
background and 10 ids never used (street sign, hat, shoe, ...). Ultralytics and
most PyTorch code use the 80 classes renumbered 0..79. Mixing them up shifts
every label past id 11, which is why both maps are here and tested.
"""

from __future__ import annotations

__all__ = ["COCO80", "COCO90", "coco90_to_label"]

#: The 80 COCO classes in ultralytics order (index = class id).
COCO80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

# The 90-id numbering leaves these ids unused by the released models.
_UNUSED_90 = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)

#: TF Object Detection API ids (1..90) to label; unused ids are absent.
COCO90: dict[int, str] = dict(
    zip((i for i in range(1, 91) if i not in _UNUSED_90), COCO80, strict=True)
)


def coco90_to_label(class_id: int) -> str | None:
    """Label for a 90-id COCO class, or ``None`` for background/unused ids.

    >>> coco90_to_label(18), coco90_to_label(0), coco90_to_label(12)
    ('dog', None, None)
    """
    return COCO90.get(int(class_id))
