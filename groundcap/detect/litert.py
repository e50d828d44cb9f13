"""Running the shipped ``.tflite`` models with LiteRT (``ai-edge-litert``).

OpenCV's dnn cannot read these models, so they run through the LiteRT
interpreter. One interpreter is built per model and reused; it is not
thread-safe, so each worker process builds its own.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from groundcap.assets import native_stderr_silenced, shipped_model
from groundcap.errors import ModelLoadError

__all__ = ["TfliteModel"]

# LiteRT announces its XNNPACK delegate once per process, on the first interpreter built. Only that build
# hides file descriptor 2: hiding it is process-wide, so doing it on every build could swallow what other
# threads write meanwhile (a run's decode threads are busy while the datastore loads its model).
_FIRST_BUILD = threading.Lock()
_announced = False


def _quiet_first_build() -> contextlib.AbstractContextManager:
    global _announced
    first, _announced = not _announced, True
    return native_stderr_silenced() if first else contextlib.nullcontext()


class TfliteModel:
    """A loaded ``.tflite`` model with a single image input.

    Args:
        filename: File name inside the shipped model folder.
        keep_tensors: Keep intermediate tensors readable (needed to read a
            hidden layer such as EfficientNet's pooled features).
    """

    def __init__(self, filename: str, *, keep_tensors: bool = False) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:  # a base dependency, so only a broken install gets here
            raise ModelLoadError("LiteRT is missing: pip install ai-edge-litert") from e
        import warnings

        with _FIRST_BUILD, warnings.catch_warnings(), _quiet_first_build():
            warnings.simplefilter("ignore")  # the "debugging only" note for keep_tensors
            self._interp = Interpreter(str(shipped_model(filename)), num_threads=1,
                                       experimental_preserve_all_tensors=keep_tensors)
            self._interp.allocate_tensors()  # where the XNNPACK delegate announces itself
        inp = self._interp.get_input_details()[0]
        self._input_index = inp["index"]
        self.input_shape = tuple(int(v) for v in inp["shape"][1:3])  # (h, w)
        self.input_dtype = inp["dtype"]
        self._outputs = self._interp.get_output_details()
        self._tensors = {d["name"]: d["index"] for d in self._interp.get_tensor_details()} if keep_tensors else {}

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Runs one ``(1, h, w, 3)`` input; returns the dequantised outputs."""
        self._interp.set_tensor(self._input_index, batch.astype(self.input_dtype, copy=False))
        self._interp.invoke()
        outs = []
        for d in self._outputs:
            t = self._interp.get_tensor(d["index"])
            scale, zero = d["quantization"]
            outs.append((t.astype(np.float32) - zero) * scale if scale else t.astype(np.float32))
        return outs

    def tensor(self, name: str) -> np.ndarray:
        """An intermediate tensor from the last run (needs ``keep_tensors=True``)."""
        if name not in self._tensors:
            raise KeyError(f"tensor {name!r} not kept; build with keep_tensors=True")
        return self._interp.get_tensor(self._tensors[name]).copy()
