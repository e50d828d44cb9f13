"""An on-disk cache of :class:`~groundcap.records.Facts`, keyed by image content and facts config.

Layout: ``root/<config_hash>/<sha256[:2]>/<sha256>.json``, where ``sha256``
is the hash of the image file's bytes (the same as ``ImageInfo.sha256``) and
``config_hash`` is :func:`groundcap.config.config_hash` of the
:class:`~groundcap.config.FactsConfig`. Each config folder also holds
``config.json``, the full config its hash stands for. Any change to the
config lands in another folder, so stale facts are never read; renaming or
moving an image keeps its facts.

Files are written to a temporary name in the same folder and moved into place
with :func:`os.replace`, so readers see either no file or a whole one, even
when several processes share the cache. A file that does not parse is a miss
and is rewritten.

>>> cache = FactsCache("/nonexistent/cache")
>>> cache.path_for("ab" * 32).relative_to(cache.root).parts[1:]
('ab', 'abababababababababababababababababababababababababababababababab.json')
>>> cache.get("ab" * 32) is None
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from groundcap.config import FactsConfig, config_hash, to_dict
from groundcap.data.content_cache import ContentFiles, write_entry
from groundcap.errors import ImageError
from groundcap.records import Facts

__all__ = ["FactsCache", "file_sha256"]

log = logging.getLogger("groundcap.data")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file's bytes, without decoding it.

    Raises:
        ImageError: with the same reasons :func:`~groundcap.data.load_image`
            gives (``not_found``, ``empty_file``, ``is_directory``...).
    """
    # load_image's reader, so a missing or unreadable file fails the same way here as there.
    from groundcap.data.images import read_file_bytes

    return hashlib.sha256(read_file_bytes(os.fsdecode(os.fspath(path)))).hexdigest()


class FactsCache:
    """Facts on disk for one facts config.

    Args:
        root: The cache folder (shared by every config).
        config: The facts config whose results this cache holds; its hash
            names the sub-folder.

    Attributes:
        hits: Lookups that found facts, over this object's life.
        misses: Lookups that did not (including unreadable files).
        errors: Images :meth:`facts_for` could not read or decode.
    """

    def __init__(self, root: str | os.PathLike[str], config: FactsConfig | None = None) -> None:
        self.root = Path(root).expanduser()
        self.config = config or FactsConfig()
        self.config_hash = config_hash(self.config)
        self.dir = self.root / self.config_hash
        self._files = ContentFiles(self.dir, ".json")
        self.hits = self.misses = self.errors = 0

    def __repr__(self) -> str:
        return f"FactsCache({str(self.root)!r}, config_hash={self.config_hash!r})"

    def path_for(self, sha256: str) -> Path:
        """Where the facts of the image with this content hash live."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"expected a lowercase hex sha256, got {sha256!r}")
        return self._files.path_for(sha256)

    def get(self, sha256: str) -> Facts | None:
        """The cached facts of an image, or ``None`` on a miss (absent or unreadable file)."""
        path = self.path_for(sha256)
        try:
            facts = Facts.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            # ValueError covers bad JSON, bad UTF-8 and records that fail validation.
            log.warning("%s: unreadable cache entry, treated as a miss (%s: %s)", path, type(e).__name__, e)
            return None
        if facts.image.sha256 != sha256:
            log.warning("%s: holds the facts of another image, treated as a miss", path)
            return None
        return facts

    def put(self, facts: Facts) -> Path:
        """Stores facts under their image's content hash, atomically.

        Raises:
            OSError: when the file cannot be written; nothing partial is left.
        """
        path = self.path_for(facts.image.sha256)
        if not (self.dir / "config.json").is_file():
            write_entry(self.dir / "config.json",
                        json.dumps(to_dict(self.config), indent=2, sort_keys=True).encode("utf-8"))
        return write_entry(path, json.dumps(facts.to_dict(), ensure_ascii=False).encode("utf-8"))

    def facts_for(self, paths: Sequence[str | os.PathLike[str]], extractor: Any) -> list[Facts | ImageError]:
        """Facts for each image path, running ``extractor`` only on cache misses.

        Each file is hashed (not decoded) to look it up. Returned facts carry
        the path they were asked for in ``image.source``, whichever path they
        were first extracted from. A failure to write the cache is logged,
        not raised: the facts are still returned.

        Args:
            paths: Image files.
            extractor: A :class:`~groundcap.facts.FactsExtractor` (anything with
                ``config`` and ``extract(path)``) built with this cache's config.

        Returns:
            One entry per path, in order: the facts, or the
            :class:`~groundcap.errors.ImageError` that image raised.

        Raises:
            ValueError: when the extractor's config is not this cache's.
        """
        theirs = config_hash(extractor.config)
        if theirs != self.config_hash:
            raise ValueError(f"the extractor's facts config (hash {theirs}) is not this cache's "
                             f"({self.config_hash}); use FactsCache(root, extractor.config)")
        out: list[Facts | ImageError] = []
        for p in paths:
            source = os.fsdecode(os.fspath(p))
            try:
                sha = file_sha256(source)
                facts = self.get(sha)
                if facts is None:
                    self.misses += 1
                    facts = extractor.extract(source)
                    self._put_quietly(facts)
                else:
                    self.hits += 1
            except ImageError as e:
                self.errors += 1
                out.append(e)
                continue
            if facts.image.source != source:
                facts = dataclasses.replace(facts, image=dataclasses.replace(facts.image, source=source))
            out.append(facts)
        return out

    def _put_quietly(self, facts: Facts) -> None:
        try:
            self.put(facts)
        except OSError as e:
            log.warning("could not write the facts cache under %s: %s", self.dir, e)
