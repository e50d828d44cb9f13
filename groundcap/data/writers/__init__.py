"""The output formats of ``groundcap run``: one module per format, one registry of their writers.

Every format is derived from the committed Parquet shards (the run's
record), so the formats can never disagree:

=============  ==============================================  =========================================
format         files                                           read back by
=============  ==============================================  =========================================
webdataset     ``webdataset/NNNNN.tar`` + ``sizes.json``       ``webdataset.WebDataset``, open_clip
               (``{key}.jpg``, ``{key}.txt``, ``{key}.json``)  ``--train-data 'webdataset/{00000..N}.tar'``
csv            ``captions.csv``: tab-separated                 open_clip ``--csv-img-key filepath
               ``filepath`` / ``title``                        --csv-caption-key title``, pandas
hf             ``hf/`` (``Dataset.save_to_disk``)              ``datasets.load_from_disk``
imagefolder    ``images/{key}.jpg`` + ``images/metadata.jsonl``  ``load_dataset("imagefolder", data_dir=)``
sidecar        ``images/{key}.jpg`` + ``images/{key}.txt``     kohya-style image-model trainers
=============  ==============================================  =========================================

A writer takes an :class:`OutputJob` and returns how many images its format
holds. Adding a format is one module with its writer and one line in
:data:`WRITERS` (or ``WRITERS.register(name, writer)`` from outside).
Entries are ``"module:function"`` strings, so listing the formats imports
nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from groundcap.registry import Registry

if TYPE_CHECKING:
    from groundcap.data.run_dir import RunDir

__all__ = ["OutputJob", "Writer", "WRITERS", "RECORD_FORMAT", "run_formats", "ordered"]

#: The format that is always written: the Parquet shards themselves.
RECORD_FORMAT = "parquet"


@dataclass(frozen=True)
class OutputJob:
    """What a writer needs to derive its format from a run folder.

    Attributes:
        store: The run folder (its committed shards and their rows).
        formats: Every format the run asked for (a writer may share files with another).
        image_bytes: Gets a row's original image bytes again, or None when they are gone.
        no_path: Whether some captioned row has no readable image file (then
            the CSV points at copies under ``images/``).
    """

    store: RunDir
    formats: tuple[str, ...]
    image_bytes: Callable[[Any], "bytes | None"]
    no_path: bool = False


#: A format's writer: derives the files from the run, returns how many images they hold.
Writer = Callable[[OutputJob], int]

# In the order finalize runs them (the summary lists the outputs in this order).
_BUILTINS: dict[str, Writer | str] = {
    "webdataset": "groundcap.data.writers.webdataset:write_webdataset",
    "imagefolder": "groundcap.data.writers.images:write_imagefolder",
    "sidecar": "groundcap.data.writers.images:write_sidecar",
    "csv": "groundcap.data.writers.openclip_csv:write_openclip_csv",
    "hf": "groundcap.data.writers.hf:write_hf_dataset",
}
WRITERS: Registry[Writer] = Registry("output format", _BUILTINS)


def run_formats() -> tuple[str, ...]:
    """Every format ``groundcap run`` accepts: ``parquet`` and each registered writer."""
    return (RECORD_FORMAT, *ordered(WRITERS.names()))


def ordered(formats: Iterable[str]) -> list[str]:
    """The registered formats among ``formats``, built-ins first in their order, then the others sorted."""
    wanted = set(formats)
    rank = {name: i for i, name in enumerate(_BUILTINS)}
    return sorted((f for f in WRITERS.names() if f in wanted), key=lambda f: (rank.get(f, len(rank)), f))
