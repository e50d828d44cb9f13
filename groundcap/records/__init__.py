"""Frozen records handed from one stage to the next.

Every stage boundary in groundcap is one of these dataclasses. They validate
themselves on construction, so a bad box or a score of 1.7 fails where it is
made rather than three stages later, and each has ``to_dict``/``from_dict``
for JSON. Only the standard library is imported here.

>>> d = Detection("dog", "dog_1", (10, 20, 110, 220), 0.9, (640, 480))
>>> d.center
(60.0, 120.0)
>>> Detection.from_dict(d.to_dict()) == d
True
"""

from groundcap.records.captions import (
    CANDIDATE_STATUSES, CLAIM_KINDS, CLAIM_VERDICTS, Candidate, CaptionResult, Claim, Proposal,
)
from groundcap.records.facts import Facts, ImageInfo
from groundcap.records.neighbours import Neighbour
from groundcap.records.objects import PREDICATES, Detection, NamedColor, ObjectColor, Posture, Relation
from groundcap.records.prompt import Prompt
from groundcap.records.run_row import CAPTIONED_STATUSES, IMAGE_REASONS, RUN_STATUSES, RunRow
from groundcap.records.scene import ContextLabel, OcrResult, Scene, SceneCue

__all__ = [
    "PREDICATES", "ImageInfo", "Detection", "NamedColor", "ObjectColor", "Relation", "SceneCue", "Scene",
    "ContextLabel", "Posture", "OcrResult", "Facts", "CANDIDATE_STATUSES", "Candidate", "CaptionResult",
    "CLAIM_KINDS", "CLAIM_VERDICTS", "Claim", "Neighbour", "Prompt", "Proposal", "RUN_STATUSES", "CAPTIONED_STATUSES",
    "IMAGE_REASONS", "RunRow",
]
