"""``groundcap doctor``: is this install able to caption, and what is it missing?

Each check prints one line: ``ok``, ``FAIL`` (the default path is broken)
or ``missing`` (an optional extra is absent), with what was found and, when
something is wrong, how to fix it. The command exits 1 when a check that the
default path needs fails, so a setup script can stop on it.

>>> from groundcap.doctor import Check
>>> Check("java", False, "not found", "apt-get install default-jre", required=False).line()
'missing  java                 not found; fix: apt-get install default-jre'
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Iterator

__all__ = ["Check", "run_checks", "add_doctor_parser"]

#: The distributions whose versions decide whether groundcap works, in the order they are printed.
VERSIONED = ("groundcap", "torch", "transformers", "peft", "trl", "datasets", "numpy", "opencv-python-headless",
             "opencv-python", "pillow", "ai-edge-litert", "ultralytics", "open_clip_torch", "ray", "lancedb")

_REINSTALL = "reinstall: pip install -c constraints.txt -e . (see the README's first command)"


@dataclass(frozen=True)
class Check:
    """The outcome of one check.

    Attributes:
        name: What was checked.
        ok: Whether it works.
        detail: What was found (a version, a load time, the error).
        fix: What to do when it does not work.
        required: Whether the default caption path needs it; an optional
            check that fails reads ``missing`` and does not fail the command.
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        return "ok" if self.ok else "FAIL" if self.required else "missing"

    def line(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix and not self.ok else ""
        return f"{self.status:<8} {self.name:<20} {self.detail}{fix}"


class _Broken(Exception):
    """Raised by a probe: what is wrong, and the fix."""

    def __init__(self, detail: str, fix: str = "") -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _versions() -> str:
    found = [f"{d} {v}" for d in VERSIONED if (v := _version(d))]
    return ", ".join(found) + f"; python {sys.version.split()[0]}"


def _python() -> str:
    if sys.version_info < (3, 10):
        raise _Broken(f"python {sys.version.split()[0]}", "groundcap needs Python 3.10 or newer")
    return f"python {sys.version.split()[0]}"


def _opencv() -> str:
    import cv2

    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        from groundcap.detect.ssd import opencv_fix

        raise _Broken(f"cv2 {cv2.__version__} has no TensorFlow importer", opencv_fix(cv2.__version__))
    return f"cv2 {cv2.__version__} with the TensorFlow importer"


def _timed(load: Callable[[], object], what: str) -> str:
    start = time.perf_counter()
    load()
    return f"{what} ({time.perf_counter() - start:.2f} s)"


def _blank():
    import numpy as np

    return np.full((96, 128, 3), 127, dtype=np.uint8)


def _ssd() -> str:
    from groundcap.detect import create_detector

    return _timed(lambda: create_detector("ssd-mobilenet-v2").detect(_blank()), "loaded and ran")


def _efficientnet() -> str:
    from groundcap.detect.classify import ContextClassifier

    return _timed(lambda: ContextClassifier().classify(_blank()), "loaded and ran")


def _movenet() -> str:
    from groundcap.detect.pose import PoseEstimator

    return _timed(PoseEstimator, "loaded")


def _smollm2() -> str:
    from groundcap.config import GenerateConfig
    from groundcap.llm_finetune.generators import create_generator

    start = time.perf_counter()
    gen = create_generator(GenerateConfig())
    if "+lora:" not in gen.model_id:
        raise _Broken(f"{gen.model_id} loaded without the embedded adapter", _REINSTALL)
    return f"{gen.model_id} ({time.perf_counter() - start:.1f} s)"


def _minilm() -> str:
    from groundcap.rerank.lit import TextFeatures

    start = time.perf_counter()
    vec = TextFeatures()(["a dog runs on the grass"])
    if vec.shape != (1, 384):
        raise _Broken(f"all-MiniLM-L6-v2 gave shape {vec.shape}, not (1, 384)", _REINSTALL)
    return f"all-MiniLM-L6-v2, 384-d ({time.perf_counter() - start:.1f} s)"


def _heads() -> str:
    from groundcap.rerank.lit import load_embedded

    start = time.perf_counter()
    model = load_embedded(device="cpu")
    image, text = model.embed_images([_blank()]), model.embed_texts(["a dog runs on the grass"])
    if image.shape != text.shape:
        raise _Broken(f"image {image.shape} and text {text.shape} embeddings differ", _REINSTALL)
    return f"shipped heads, {image.shape[1]}-d joint embedding ({time.perf_counter() - start:.1f} s)"


def _datastore() -> str:
    from groundcap.datastore import open_datastore, resolve_datastore

    path = resolve_datastore("embedded")
    if path is None or not path.is_dir():
        raise _Broken(f"the shipped caption datastore is missing ({path})", _REINSTALL)
    start = time.perf_counter()
    store = open_datastore(path)
    near = store.neighbours(_blank(), 3)
    if len(near) != 3:
        raise _Broken(f"{store!r} returned {len(near)} neighbours, not 3", _REINSTALL)
    return f"{len(store)} photos, {store.embedding_name} {store.dim}-d ({time.perf_counter() - start:.1f} s)"


def _cache() -> str:
    from groundcap.assets import cache_dir

    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
    except OSError as e:
        raise _Broken(f"{root} is not writable ({e.strerror or e})",
                      "set GROUNDCAP_CACHE to a writable folder") from e
    return f"{root} is writable"


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise _Broken("no java on PATH (the PTB tokenizer and METEOR of `groundcap eval captions` need it)",
                      "apt-get install default-jre-headless")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise _Broken(f"java does not run: {e}", "reinstall Java") from e
    first = (out.stderr or out.stdout).strip().splitlines()
    return first[0] if first else "java runs"


def _module(module: str, extra: str, what: str) -> Callable[[], str]:
    def probe() -> str:
        if importlib.util.find_spec(module) is None:
            raise _Broken(f"not installed ({what})", f"pip install -c constraints.txt -e '.[{extra}]'")
        return f"{module} importable ({what})"

    return probe


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return f"{name} on PATH (the report's browser tests)"
    raise _Broken("no chromium on PATH (the report's browser tests skip without it)", "apt-get install chromium")


def _probes(models: bool) -> Iterator[tuple[str, Callable[[], str], bool]]:
    yield "python", _python, True
    yield "versions", _versions, True
    yield "opencv", _opencv, True
    if models:
        yield "ssd-mobilenet-v2", _ssd, True
        yield "efficientnet-lite3", _efficientnet, True
        yield "movenet", _movenet, True
        yield "smollm2+adapter", _smollm2, True
        yield "minilm", _minilm, True
        yield "image-text heads", _heads, True
        yield "datastore", _datastore, True
    yield "cache dir", _cache, True
    yield "java", _java, False
    yield "pycocoevalcap", _module("pycocoevalcap", "eval", "caption metrics"), False
    yield "ultralytics", _module("ultralytics", "yolo", "the YOLO detector"), False
    yield "open_clip", _module("open_clip", "clip", "real CLIP models"), False
    yield "lancedb", _module("lancedb", "index", "groundcap index / search"), False
    yield "ray", _module("ray", "scale", "groundcap run --engine ray"), False
    yield "chromium", _chromium, False


def run_checks(*, models: bool = True) -> Iterator[Check]:
    """Runs every check in turn, yielding each result as soon as it is known.

    Args:
        models: Load each shipped model once (SSD, EfficientNet-Lite3,
            MoveNet, SmolLM2 with its adapter, MiniLM, the image-text heads,
            the caption datastore); about 10 s, or 30 s the first time, when
            SmolLM2 is converted.
    """
    for name, probe, required in _probes(models):
        try:
            yield Check(name, True, probe(), required=required)
        except _Broken as e:
            yield Check(name, False, e.detail, e.fix, required=required)
        except Exception as e:  # noqa: BLE001 - a doctor reports every failure, whatever raised it
            yield Check(name, False, f"{type(e).__name__}: {e}".splitlines()[0], _REINSTALL, required=required)


def add_doctor_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="Check this install: versions, the shipped models, Java, the extras.",
                       description="One line per check, ok or a fix. Exits 1 when something the default "
                                   "caption path needs is broken.")
    p.add_argument("--no-models", action="store_true", help="Skip loading the shipped models (a second check).")
    p.add_argument("--json", action="store_true", help="Print one JSON record per check instead.")
    p.set_defaults(func=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    broken = 0
    for check in run_checks(models=not args.no_models):
        broken += not check.ok and check.required
        print(json.dumps(dataclasses.asdict(check) | {"status": check.status}) if args.json else check.line(),
              flush=True)
    if not args.json:
        print(f"{broken} required check(s) failed" if broken else "groundcap can caption on this install",
              file=sys.stderr if broken else sys.stdout)
    return 1 if broken else 0
