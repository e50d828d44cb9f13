"""How far the facts agree with what people wrote: ``groundcap eval facts DIR``.

For each image with reference captions, the facts (ours, and the seed's
naive rules on the same detector pass) are compared with the captions:

- label precision: detected objects whose label (or a synonym) some caption uses;
- label recall: COCO classes the captions name that were detected;
- color agreement: objects the captions give a color to, where a measured
  color of that object has the same color family;
- indoor/outdoor, time of day and place: the verdict the captions' setting
  words give, against ours where ours is not ``unknown`` (coverage reported);
- relation stability: relation sets unchanged when the same layout is 2× larger.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from groundcap.config import FactsConfig
from groundcap.data.captioned import CaptionedImage
from groundcap.eval import baseline as seed
from groundcap.text.vocab import color_family, colors_attached, mentioned_classes, setting_votes, tokens
from groundcap.records import Detection, Facts

__all__ = ["Ratio", "AgreementReport", "evaluate_facts"]


@dataclass
class Ratio:
    """A hit count over a total, printed as a percentage."""

    hits: int = 0
    total: int = 0

    def add(self, hit: bool, n: int = 1) -> None:
        self.hits += int(hit) if n == 1 else hit
        self.total += n

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        return "—" if self.value is None else f"{100 * self.value:.1f}% ({self.hits}/{self.total})"


@dataclass
class AgreementReport:
    """Rows of (metric, ours, baseline), plus coverage of the abstaining judgements."""

    images: int = 0
    ours: dict[str, Ratio] = field(default_factory=dict)
    baseline: dict[str, Ratio] = field(default_factory=dict)
    seconds: float = 0.0

    ROWS = (
        ("label_precision", "label precision (objects named in ≥1 caption)"),
        ("label_recall", "label recall (caption COCO nouns detected)"),
        ("label_f1", "label F1"),
        ("color_agreement", "color agreement (caption color of an object matches)"),
        ("indoor_outdoor", "indoor/outdoor balanced accuracy (unknown = wrong)"),
        ("indoor_recall", "indoor recall (photos captioned as indoors)"),
        ("indoor_precision", "indoor precision (when we say indoors)"),
        ("time_of_day", "day/night accuracy (where answered)"),
        ("time_of_day_coverage", "day/night coverage"),
        ("place_precision", "place confirmed by a caption (where answered)"),
        ("relation_stability", "relations unchanged at 2× image size"),
        ("posture", "posture confirmed by a caption (with --pose; baseline: always standing)"),
        ("context_words", "context label named in a caption (classifier labels kept)"),
    )

    def ratio(self, side: str, key: str) -> Ratio:
        return getattr(self, side).setdefault(key, Ratio())

    def get(self, side: str, key: str) -> Ratio | _Derived:
        rows = getattr(self, side)
        if key == "indoor_outdoor":  # the mean of per-class recalls: the classes are ~15:1
            a, b = rows.get("outdoor_recall", Ratio()), rows.get("indoor_recall", Ratio())
            both = None if a.value is None or b.value is None else (a.value + b.value) / 2
            return _Derived(both, a.total + b.total)
        if key == "label_f1":
            p, r = rows.get("label_precision", Ratio()), rows.get("label_recall", Ratio())
            f1 = None if not p.value or not r.value else 2 * p.value * r.value / (p.value + r.value)
            return _Derived(f1, p.total)
        return rows.get(key, Ratio())

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "seconds": round(self.seconds, 1),
                "rows": [{"metric": key, "ours": self.get("ours", key).value,
                          "baseline": self.get("baseline", key).value,
                          "n_ours": self.get("ours", key).total,
                          "n_baseline": self.get("baseline", key).total} for key, _ in self.ROWS]}

    def markdown(self) -> str:
        lines = ["| metric | groundcap | seed baseline |", "|---|---|---|"]
        for key, title in self.ROWS:
            lines.append(f"| {title} | {self.get('ours', key)} | {self.get('baseline', key)} |")
        return "\n".join(lines)


@dataclass
class _Derived:
    """A value computed from other rows (balanced accuracy, F1)."""

    value: float | None
    total: int

    def __str__(self) -> str:
        return "—" if self.value is None else f"{100 * self.value:.1f}% (n={self.total})"


def _caption_verdict(captions: Sequence[str], a: str, b: str, min_votes: int = 1) -> str | None:
    votes = setting_votes(captions, (a, b))
    if votes[a] >= min_votes and votes[a] > votes[b]:
        return a
    if votes[b] >= min_votes and votes[b] > votes[a]:
        return b
    return None


def _scaled(dets: Sequence[Detection], k: float) -> list[Detection]:
    return [dataclasses.replace(d, box=tuple(v * k for v in d.box), image_size=(d.image_size[0] * k, d.image_size[1] * k))
            for d in dets]


def _score_labels(report: AgreementReport, side: str, dets: Sequence[Detection], mentioned: set[str]) -> None:
    for d in dets:
        report.ratio(side, "label_precision").add(d.label in mentioned)
    found = {d.label for d in dets}
    report.ratio(side, "label_recall").add(len(found & mentioned), len(mentioned))


def _score_colors(report: AgreementReport, side: str, measured: dict[str, set[str]], human: dict[str, set[str]]) -> None:
    for label, fams in human.items():
        if label in measured:
            report.ratio(side, "color_agreement").add(bool(measured[label] & fams))


def _score_ours(report: AgreementReport, facts: Facts, item: CaptionedImage, relations_2x: Any) -> None:
    caps = item.captions
    mentioned = set().union(*(mentioned_classes(c) for c in caps))
    human_colors: dict[str, set[str]] = {}
    for c in caps:
        for label, fams in colors_attached(c).items():
            human_colors.setdefault(label, set()).update(fams)
    _score_labels(report, "ours", facts.detections, mentioned)
    measured: dict[str, set[str]] = {}
    by_id = {d.instance_id: d.label for d in facts.detections}
    for oc in facts.colors:
        for c in oc.colors:
            measured.setdefault(by_id[oc.instance_id], set()).update(color_family(c.basic))
    _score_colors(report, "ours", measured, human_colors)

    io = _caption_verdict(caps, "outdoor", "indoor", min_votes=2)
    if io:
        said = facts.scene.location.value
        report.ratio("ours", f"{io}_recall").add(said == io)
        if said == "indoor":
            report.ratio("ours", "indoor_precision").add(io == "indoor")
    tod = _caption_verdict(caps, "day", "night")
    if tod:
        value = {"dim": "night"}.get(facts.scene.time_of_day.value, facts.scene.time_of_day.value)
        report.ratio("ours", "time_of_day_coverage").add(value != "unknown")
        if value != "unknown":
            report.ratio("ours", "time_of_day").add(value == tod)
    place = facts.scene.place.value
    if place != "unknown":
        report.ratio("ours", "place_precision").add(setting_votes(caps, (place,))[place] > 0)
    for p in facts.postures:
        votes = setting_votes(caps, (p.posture, "standing"))
        report.ratio("ours", "posture").add(votes[p.posture] > 0)
        report.ratio("baseline", "posture").add(votes["standing"] > 0)
    words = set().union(*(tokens(c) for c in caps))
    for c in facts.context:
        report.ratio("ours", "context_words").add(bool(set(tokens(c.label)) & words))
    if len(facts.detections) >= 2:
        report.ratio("ours", "relation_stability").add(relations_2x == {r.triple for r in facts.relations})
    return mentioned, human_colors


def evaluate_facts(items: Iterable[CaptionedImage], config: FactsConfig | None = None, *,
                   baseline: bool = True, progress: bool = False) -> AgreementReport:
    """Runs the facts (and the seed baseline) over captioned images and scores both.

    Both sides share one detector pass: the detector runs at the lower of the
    two thresholds and each side applies its own post-processing.
    """
    from groundcap.data import load_image
    from groundcap.detect.base import to_detections
    from groundcap.facts import FactsExtractor
    from groundcap.spatial import relations_between

    config = config or FactsConfig()
    low = min(config.detect.conf, seed.SEED_DETECT.conf)
    extractor = FactsExtractor(dataclasses.replace(config, detect=dataclasses.replace(config.detect, conf=low)))
    items = list(items)
    report = AgreementReport()
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="img", desc="eval facts")
    for item in items:
        array, info = load_image(item.path)
        raw = extractor.detector.predict_raw(array)
        size = (array.shape[1], array.shape[0])
        dets = to_detections(raw, size, config.detect, extractor.detector.name)
        facts = extractor.facts_for(array, info, dets)
        rel2 = {r.triple for r in relations_between(_scaled(dets, 2.0), config.spatial)}
        mentioned, human_colors = _score_ours(report, facts, item, rel2)
        if baseline:
            bdets = to_detections(raw, size, seed.SEED_DETECT, extractor.detector.name)
            _score_labels(report, "baseline", bdets, mentioned)
            measured: dict[str, set[str]] = {}
            from groundcap.colors import basic_name

            for d in bdets:
                for _, rgb in seed.seed_colors(array, d):
                    measured.setdefault(d.label, set()).update(color_family(basic_name(rgb)))
            _score_colors(report, "baseline", measured, human_colors)
            io = _caption_verdict(item.captions, "outdoor", "indoor", min_votes=2)
            if io:  # the seed had no indoor/outdoor rule; "always outdoor" is the naive answer
                report.ratio("baseline", f"{io}_recall").add(io == "outdoor")
            tod = _caption_verdict(item.captions, "day", "night")
            if tod:
                report.ratio("baseline", "time_of_day_coverage").add(True)
                report.ratio("baseline", "time_of_day").add(seed.seed_time_of_day(array) == tod)
            if len(bdets) >= 2:
                report.ratio("baseline", "relation_stability").add(
                    seed.seed_relations(bdets) == seed.seed_relations(_scaled(bdets, 2.0)))
        report.images += 1
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report
