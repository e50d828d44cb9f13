"""The scene setting from measurable cues: time of day, indoor/outdoor, kind of place.

Each judgement sums weighted votes from independent cues — brightness, the
colors of the top (sky) and bottom (ground) bands, the detected COCO classes,
and the whole-image classifier's ImageNet labels — and reports the winner with
a confidence and the evidence. When the votes are weak or split, the answer is
``unknown``: a caption may then say nothing about the setting, which is better
than saying something wrong.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from groundcap.records import ContextLabel, Detection, Scene, SceneCue

__all__ = ["scene_of", "region_stats"]

# COCO classes that are almost only seen on one side of a wall.
OUTDOOR_CLASSES = frozenset({
    "car", "bus", "truck", "train", "airplane", "boat", "traffic light", "fire hydrant", "stop sign",
    "parking meter", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "kite",
    "surfboard", "skis", "snowboard", "motorcycle", "bicycle", "skateboard", "frisbee", "umbrella",
})
INDOOR_CLASSES = frozenset({
    "couch", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "chair",
    "teddy bear", "hair drier", "toothbrush", "wine glass", "fork", "knife", "spoon",
})
STREET_CLASSES = frozenset({"car", "bus", "truck", "traffic light", "fire hydrant", "stop sign", "parking meter", "motorcycle"})

# ImageNet labels (first synonym) that name a place, or a thing seen in one place.
PLACE_LABELS: Mapping[str, str] = {
    **dict.fromkeys(("seashore", "lakeside", "sandbar", "coral reef", "boathouse", "canoe", "paddle",
                     "speedboat", "swimming trunks", "snorkel", "scuba diver", "lifeboat", "breakwater",
                     "dock", "gondola", "yawl", "catamaran", "trimaran", "fireboat", "wreck", "liner",
                     "schooner", "pier", "water ski", "jetty", "sea lion", "platypus"), "water"),
    **dict.fromkeys(("alp", "cliff", "valley", "volcano", "promontory", "mountain bike", "mountain tent",
                     "geyser", "cliff dwelling", "dam", "stone wall"), "mountain"),
    **dict.fromkeys(("ski", "snowmobile", "dogsled", "snowplow", "bobsled", "Eskimo dog", "Siberian husky",
                     "malamute"), "snow"),
    **dict.fromkeys(("hay", "harvester", "thresher", "plow", "lawn mower", "maze", "rapeseed", "daisy",
                     "hare", "croquet ball", "golf ball", "soccer ball", "rugby ball", "football helmet",
                     "worm fence", "picket fence", "ox", "bison"), "grass"),
    **dict.fromkeys(("streetcar", "cab", "minibus", "trolleybus", "police van", "moving van", "street sign",
                     "traffic light", "parking meter", "crosswalk", "pay-phone", "mailbox", "unicycle",
                     "tricycle", "moped", "motor scooter", "jinrikisha", "fire engine", "garbage truck",
                     "limousine", "convertible", "sports car", "jeep", "pickup", "tow truck"), "street"),
    **dict.fromkeys(("dining table", "restaurant", "library", "bookshop", "home theater", "wardrobe",
                     "four-poster", "studio couch", "shower curtain", "window shade", "desk", "quilt",
                     "entertainment center", "bookcase", "washbasin", "tub", "bathtub", "crib", "cradle",
                     "rocking chair", "folding chair", "barber chair", "grand piano", "upright", "stage",
                     "altar", "church", "prison", "toyshop", "grocery store", "shoe shop", "barbershop",
                     "confectionery", "tobacco shop", "butcher shop", "bakery", "cinema", "television",
                     "monitor", "screen", "microwave", "refrigerator", "dishwasher", "stove", "wok",
                     "plate", "china cabinet", "medicine chest", "pool table", "punching bag",
                     "sliding door", "bannister", "radiator", "dumbbell", "balance beam", "horizontal bar",
                     "parallel bars", "basketball"), "indoor room"),
}

_PLACE_COLOR_HINTS = ("water", "snow", "grass")


def region_stats(image: np.ndarray) -> dict[str, np.ndarray | float]:
    """Cheap per-band color statistics on a ≤64 px thumbnail (strided, no resampling)."""
    h, w = image.shape[:2]
    step = max(1, max(h, w) // 64)
    thumb = image[::step, ::step].astype(np.float32) / 255.0
    th = thumb.shape[0]
    top, bottom = thumb[: max(1, th // 3)], thumb[th - max(1, th // 3):]
    luma = thumb @ np.float32([0.299, 0.587, 0.114])
    return {"brightness": float(luma.mean()), "top": _band(top), "bottom": _band(bottom),
            "dark_share": float((luma < 0.15).mean())}


def _band(px: np.ndarray) -> np.ndarray:
    """Shares of sky-blue, overcast-white, green, snow-white and water-blue pixels in a band."""
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    mx, mn = px.max(axis=-1), px.min(axis=-1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0)
    blue_sky = (b > r + 0.06) & (b > g - 0.02) & (mx > 0.45)
    overcast = (sat < 0.12) & (mx > 0.75)
    green = (g > r + 0.03) & (g > b + 0.02) & (mx > 0.15)
    snow = (sat < 0.15) & (mn > 0.7)
    water = (b > r + 0.08) & (mx > 0.2) & (mx < 0.85)
    return np.array([m.mean() for m in (blue_sky, overcast, green, snow, water)], dtype=np.float32)


def _decide(votes: Mapping[str, float], evidence: Mapping[str, list[str]], min_margin: float) -> SceneCue:
    """The best-voted value, with confidence = its share of the vote, if it clears the margin."""
    total = sum(v for v in votes.values() if v > 0)
    if total <= 0:
        return SceneCue("unknown", 0.0)
    ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    best, score = ranked[0]
    runner = ranked[1][1] if len(ranked) > 1 else 0.0
    if score - max(runner, 0.0) < min_margin:
        return SceneCue("unknown", 0.0, tuple(evidence.get(best, ())))
    confidence = min(1.0, score / total) * min(1.0, score)
    return SceneCue(best, round(confidence, 3), tuple(evidence.get(best, ())))


def scene_of(image: np.ndarray, detections: Sequence[Detection] = (), context: Sequence[ContextLabel] = ()) -> Scene:
    """Judges the setting of one RGB uint8 image.

    Args:
        image: The decoded image.
        detections: Detected objects (their classes are cues).
        context: Whole-image classifier labels (their places are cues).

    >>> import numpy as np
    >>> sky_over_grass = np.zeros((60, 80, 3), np.uint8); sky_over_grass[:30] = (90, 150, 235); sky_over_grass[30:] = (60, 150, 40)
    >>> s = scene_of(sky_over_grass)
    >>> s.location.value, s.time_of_day.value, s.place.value
    ('outdoor', 'day', 'grass')
    """
    stats = region_stats(image)
    top, bottom = stats["top"], stats["bottom"]
    bright = stats["brightness"]
    labels = {d.label for d in detections}

    place_votes: dict[str, float] = {}
    place_ev: dict[str, list[str]] = {}

    def vote(place: str, weight: float, why: str) -> None:
        place_votes[place] = place_votes.get(place, 0.0) + weight
        place_ev.setdefault(place, []).append(why)

    for c in context:
        if c.label in PLACE_LABELS:
            vote(PLACE_LABELS[c.label], min(1.0, 2.0 * c.score), f"classifier: {c.label} {c.score:.2f}")
    street = sorted(labels & STREET_CLASSES)
    if street:
        vote("street", 0.3 + 0.2 * len(street), "objects: " + ", ".join(street))
    if labels & {"skis", "snowboard"}:
        vote("snow", 0.6, "objects: skis/snowboard")
    if labels & {"surfboard", "boat"}:
        vote("water", 0.5, "objects: surfboard/boat")
    if labels & {"sheep", "cow", "horse"}:
        vote("grass", 0.3, "objects: grazing animals")
    indoor_objs = sorted(labels & INDOOR_CLASSES)
    if indoor_objs:
        vote("indoor room", 0.2 + 0.15 * len(indoor_objs), "objects: " + ", ".join(indoor_objs))
    green, snow, water = float(bottom[2]), float(bottom[3]), float(bottom[4])
    if green > 0.35:
        vote("grass", green, f"green ground {green:.0%}")
    if snow > 0.35:
        vote("snow", snow, f"white ground {snow:.0%}")
    if water > 0.35:
        vote("water", water * 0.8, f"blue ground {water:.0%}")
    place = _decide(place_votes, place_ev, min_margin=0.25)

    sky = float(top[0] + 0.6 * top[1])
    out_votes = {"outdoor": 0.0, "indoor": 0.0}
    out_ev: dict[str, list[str]] = {"outdoor": [], "indoor": []}
    if sky > 0.2:
        out_votes["outdoor"] += min(1.0, 1.5 * sky)
        out_ev["outdoor"].append(f"sky at the top {sky:.0%}")
    for p, v in place_votes.items():
        side = "indoor" if p == "indoor room" else "outdoor"
        out_votes[side] += v
        out_ev[side].append(f"place: {p}")
    outdoor_objs = sorted(labels & OUTDOOR_CLASSES)
    if outdoor_objs:
        out_votes["outdoor"] += 0.25 * len(outdoor_objs)
        out_ev["outdoor"].append("objects: " + ", ".join(outdoor_objs))
    if not outdoor_objs and sky < 0.05 and 0.18 <= bright < 0.45:
        # Dim with no sky is a weak indoor cue; pitch dark says nothing either way.
        out_votes["indoor"] += 0.3
        out_ev["indoor"].append("no sky, dim")
    location = _decide(out_votes, out_ev, min_margin=0.3)

    # Only blue sky is evidence of daylight: white "sky" may be floodlights or a
    # lit wall. Without it, brightness decides, and the middle stays undecided.
    blue_sky = float(top[0])
    time_votes: dict[str, float] = {}
    time_ev: dict[str, list[str]] = {}
    if blue_sky > 0.1 or (bright > 0.4 and location.value == "outdoor"):
        time_votes["day"] = 0.4 + 2 * blue_sky + max(0.0, bright - 0.3) * 3
        time_ev["day"] = [f"brightness {bright:.2f}", f"blue sky {blue_sky:.0%}"]
    if blue_sky < 0.05 and bright < 0.3:
        dark = (0.3 - bright) * 5 + stats["dark_share"]
        if location.value == "indoor":
            time_votes["dim"] = 0.8
            time_ev["dim"] = [f"brightness {bright:.2f}", "indoors"]
        else:
            time_votes["night"] = dark
            time_ev["night"] = [f"brightness {bright:.2f}", f"dark pixels {stats['dark_share']:.0%}", "no blue sky"]
    time_of_day = _decide(time_votes, time_ev, min_margin=0.3)
    return Scene(time_of_day, location, place, round(bright, 4))
