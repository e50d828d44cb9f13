"""Runs the ``groundcap`` CLI with one fault injected at a precise point (for test_kill_points.py).

::

    python _fault_runner.py POINT K [ACTION] -- run SRC --out OUT ...

The K-th *hit* of POINT (counted from 1, across threads) triggers ACTION:

``kill`` (default)
    ``SIGKILL`` this very process: no handler, no ``finally``, no flush.
``pause``
    Sleep in place (up to :data:`PAUSE_S`) so the test can send a signal at
    a known moment; the run then goes on if none came.
``fsize``
    From now on the disk is "full": ``SIGXFSZ`` is ignored and
    ``RLIMIT_FSIZE`` is set to :data:`FSIZE_LIMIT` bytes, so every write
    past that offset fails with ``EFBIG`` (this works for root too).

POINT is one of :data:`POINTS`. Only library functions are wrapped, from
the outside; the product code has no test hooks. Before acting the runner
writes ``fault: POINT #K ACTION`` on stderr, so a test can tell that the
fault fired where it meant it to.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import sys
import tarfile
import threading
import time
from pathlib import Path

PAUSE_S = 60.0
FSIZE_LIMIT = 1024

#: POINT: what one hit is.
POINTS = {
    "decode": "an image was decoded (groundcap.engines.stages.load_image_bytes returned) in a decode thread",
    "detect": "the detector ran on a group (groundcap.detect.base.Detector.detect_batch returned)",
    "generate": "the generator is called on a group (TemplateGenerator.generate_raw)",
    "tar": "one member was added to a WebDataset tar's temp file, and flushed (tarfile.TarFile.addfile)",
    "parquet": "a shard's temp file is about to be written (pyarrow.parquet.write_table); on kill "
               "half of its bytes are written and flushed first",
    "commit": "a complete, fsynced shard temp file is about to be renamed into shards/ (os.replace)",
    "committed": "a shard was just renamed into shards/ (os.replace returned)",
    "tarred": "a WebDataset tar was just renamed into webdataset/ (os.replace returned)",
    "image": "a copy under images/ is about to be renamed into place (os.replace)",
    "hf": "the saved hf/ dataset is about to be renamed into place (os.replace)",
    "config": "config.json, the last output of finalize, is about to be renamed into place (os.replace)",
}
_SHARD = re.compile(r"^\d{5,}\.parquet$")


class Fault:
    def __init__(self, point: str, k: int, action: str) -> None:
        if point not in POINTS:
            raise SystemExit(f"unknown point {point!r}; expected one of {sorted(POINTS)}")
        if action not in ("kill", "pause", "fsize"):
            raise SystemExit(f"unknown action {action!r}")
        self.point, self.k, self.action = point, k, action
        self.hits = 0
        self.lock = threading.Lock()

    def hit(self, point: str, before_kill=None) -> None:
        """Counts one hit of ``point``; acts on the K-th (``before_kill`` runs just before a kill)."""
        if point != self.point:
            return
        with self.lock:
            self.hits += 1
            if self.hits != self.k:
                return
        sys.stderr.write(f"fault: {point} #{self.k} {self.action}\n")
        sys.stderr.flush()
        if self.action == "kill":
            if before_kill is not None:
                before_kill()
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(PAUSE_S)  # never reached: SIGKILL cannot be caught
        elif self.action == "pause":
            time.sleep(PAUSE_S)
        else:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))

    def half_write(self, point: str, table, where) -> bool:
        """On the kill hit: writes half of the Parquet bytes of ``table`` to ``where`` and dies there."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        def torn() -> None:
            buf = pa.BufferOutputStream()
            pq.write_table(table, buf, compression="zstd")
            data = buf.getvalue().to_pybytes()
            where.write(data[: len(data) // 2])
            where.flush()
            os.fsync(where.fileno())

        self.hit(point, before_kill=torn)
        return True


def install(fault: Fault) -> None:
    import pyarrow.parquet as pq

    from groundcap.detect.base import Detector
    from groundcap.engines import stages
    from groundcap.llm_finetune.generators.template import TemplateGenerator

    real_decode = stages.load_image_bytes

    def load_image_bytes(*a, **kw):
        out = real_decode(*a, **kw)
        fault.hit("decode")
        return out

    stages.load_image_bytes = load_image_bytes

    real_detect = Detector.detect_batch

    def detect_batch(self, images):
        out = real_detect(self, images)
        fault.hit("detect")
        return out

    Detector.detect_batch = detect_batch

    real_generate = TemplateGenerator.generate_raw

    def generate_raw(self, *a, **kw):
        fault.hit("generate")
        return real_generate(self, *a, **kw)

    TemplateGenerator.generate_raw = generate_raw

    real_addfile = tarfile.TarFile.addfile

    def addfile(self, *a, **kw):
        out = real_addfile(self, *a, **kw)
        if str(self.name or "").endswith(".tar.tmp"):
            self.fileobj.flush()
            fault.hit("tar")
        return out

    tarfile.TarFile.addfile = addfile

    real_write_table = pq.write_table

    def write_table(table, where, *a, **kw):
        if str(getattr(where, "name", "")).endswith(".parquet.tmp"):
            fault.half_write("parquet", table, where)
        return real_write_table(table, where, *a, **kw)

    pq.write_table = write_table

    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        src, dst = Path(src), Path(dst)
        shard = dst.parent.name == "shards" and bool(_SHARD.match(dst.name))
        if shard:
            fault.hit("commit")
        elif dst.parent.name == "images" and dst.suffix == ".jpg":
            fault.hit("image")
        elif src.name == ".hf.tmp":
            fault.hit("hf")
        elif dst.name == "config.json":
            fault.hit("config")
        out = real_replace(src, dst, *a, **kw)
        if shard:
            fault.hit("committed")
        elif dst.parent.name == "webdataset" and dst.suffix == ".tar":
            fault.hit("tarred")
        return out

    os.replace = replace


def main(argv: list[str]) -> int:
    if "--" not in argv:
        raise SystemExit(__doc__)
    cut = argv.index("--")
    head, rest = argv[:cut], argv[cut + 1:]
    if len(head) not in (2, 3):
        raise SystemExit(__doc__)
    install(Fault(head[0], int(head[1]), head[2] if len(head) == 3 else "kill"))
    from groundcap.cli import main as cli_main

    return cli_main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
