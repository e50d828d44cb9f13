"""Where things are and how many: relations between boxes, counts, and their English.

Only boxes and labels are read here; no model library is imported.

>>> from groundcap.records import Detection
>>> dets = [Detection("cup", "cup_1", (100, 400, 160, 480), 0.8, (1000, 800)),
...         Detection("laptop", "laptop_1", (200, 300, 500, 500), 0.9, (1000, 800))]
>>> names = display_names(dets)
>>> [relation_sentence(r, names) for r in relations_between(dets)]
['the cup is next to the laptop']
>>> count_phrase({"cup": 1, "laptop": 1})
'a cup and a laptop'
"""

from groundcap.spatial.counts import count_phrase, number_word, pluralize
from groundcap.spatial.phrases import display_names, relation_sentence
from groundcap.spatial.relations import relations_between

__all__ = [
    "relations_between",
    "count_phrase",
    "pluralize",
    "number_word",
    "display_names",
    "relation_sentence",
]
