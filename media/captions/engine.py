"""Speech-recognition engines behind one small interface, chosen by name.

An engine decodes one utterance at a time from 16 kHz mono signed 16-bit PCM. Engines are not
thread-safe: each speaker stream owns its own instance, created in the thread or process that
uses it (so a factory, not an instance, crosses a process boundary).

Names: ``"pocketsphinx"`` (default; the wheel bundles an en-us model, works offline),
``"pocketsphinx-balanced"`` (fewer word errors for about twice the CPU per speaker),
``"pocketsphinx-accurate"`` (the library's default search, about 2.5 times the CPU),
``"faster-whisper"`` (only where the package and a local model are installed; nothing is ever
downloaded), or ``"package.module:Factory"`` for an engine outside this package.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

ENGINE_SAMPLE_RATE = 16_000
DEFAULT_ENGINE = "pocketsphinx"


class EngineUnavailable(RuntimeError):
    """The engine named cannot run here (package or model missing); the message says how to fix."""


@runtime_checkable
class CaptionEngine(Protocol):
    name: str

    def start_utterance(self) -> None: ...

    def feed(self, pcm16k: bytes) -> str | None:
        """Decode more audio of the current utterance; return a partial hypothesis or None."""
        ...

    def end_utterance(self) -> str:
        """Finish the utterance and return its final text ("" when nothing was recognised)."""
        ...

    def close(self) -> None: ...


EngineFactory = Callable[[], CaptionEngine]


# Measured with bench/captions.py on espeak-ng speech: the library's default search costs about
# 0.4 s of CPU per second of audio, so three simultaneous speakers would need more than one core;
# narrower beams and no second (flat-lexicon) pass cost about 0.2 s for a modestly higher WER.
POCKETSPHINX_PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"fwdflat": False, "beam": 1e-40, "wbeam": 1e-30, "pbeam": 1e-40},
    # The library's beams without the second pass, and a cap on active HMMs per frame (bounds
    # the worst case); see bench/RESULTS.md, Captions.
    "balanced": {"fwdflat": False, "maxhmmpf": 5000},
    "accurate": {},
}


class PocketsphinxEngine:
    """CMU pocketsphinx with the en-us model bundled in its wheel; no network access."""

    def __init__(
        self,
        *,
        preset: str = "fast",
        partial_every: float = 0.5,
        warm_up_seconds: float = 3.0,
        **options: Any,
    ) -> None:
        try:
            import pocketsphinx
        except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
            raise EngineUnavailable(
                "pocketsphinx is not installed: pip install pocketsphinx==5.1.1"
            ) from exc
        config = {**POCKETSPHINX_PRESETS[preset], **options}
        self.name = f"pocketsphinx-{preset}"
        self._decoder = pocketsphinx.Decoder(loglevel="FATAL", **config)
        self._partial_bytes = int(partial_every * ENGINE_SAMPLE_RATE) * 2
        self._since_partial = 0
        self._last_partial = ""
        self._in_utterance = False
        # Live cepstral mean normalisation starts from the model's generic prior and adapts as
        # audio arrives: a fresh decoder garbles its first utterance ("i would like a cup of
        # coffee" came back as "on what tata car thief", and right on the second pass). Until a
        # stream has this much audio behind it, each utterance is decoded again at its end.
        self._cold_bytes = int(warm_up_seconds * ENGINE_SAMPLE_RATE) * 2
        self._utterance_audio: list[bytes] = []

    def start_utterance(self) -> None:
        if self._in_utterance:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._in_utterance = True
        self._since_partial = 0
        self._last_partial = ""
        self._utterance_audio = []

    def feed(self, pcm16k: bytes) -> str | None:
        if not self._in_utterance:
            self.start_utterance()
        self._decoder.process_raw(pcm16k, no_search=False, full_utt=False)
        if self._cold_bytes > 0:
            self._utterance_audio.append(pcm16k)
        self._since_partial += len(pcm16k)
        if self._since_partial < self._partial_bytes:
            return None
        self._since_partial = 0
        hyp = self._decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        if not text or text == self._last_partial:
            return None
        self._last_partial = text
        return text

    def end_utterance(self) -> str:
        if not self._in_utterance:
            return ""
        self._decoder.end_utt()
        self._in_utterance = False
        if self._cold_bytes > 0 and self._utterance_audio:
            audio = b"".join(self._utterance_audio)
            self._utterance_audio = []
            self._cold_bytes -= len(audio)
            self._decoder.start_utt()
            self._decoder.process_raw(audio, no_search=False, full_utt=True)
            self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def close(self) -> None:
        if self._in_utterance:
            self._decoder.end_utt()
            self._in_utterance = False


class FasterWhisperEngine:
    """faster-whisper on CPU, only from a model already on disk (``CAPTIONS_WHISPER_MODEL``).

    Whisper does not stream: it transcribes the whole utterance at its end and gives no partials.
    """

    def __init__(self, *, model: str | None = None, compute_type: str = "int8") -> None:
        model = model or os.environ.get("CAPTIONS_WHISPER_MODEL", "")
        try:
            faster_whisper = importlib.import_module("faster_whisper")
        except ImportError as exc:
            raise EngineUnavailable(
                "captions engine 'faster-whisper' needs the faster-whisper package "
                "(pip install faster-whisper) and a model directory on disk named by "
                "CAPTIONS_WHISPER_MODEL; nothing is downloaded automatically"
            ) from exc
        if not model or not os.path.isdir(model):
            raise EngineUnavailable(
                "captions engine 'faster-whisper' needs CAPTIONS_WHISPER_MODEL set to a local "
                f"CTranslate2 Whisper model directory (got {model!r}); nothing is downloaded"
            )
        self.name = "faster-whisper"
        self._model = faster_whisper.WhisperModel(
            model, device="cpu", compute_type=compute_type, local_files_only=True
        )
        self._chunks: list[bytes] = []

    def start_utterance(self) -> None:
        self._chunks = []

    def feed(self, pcm16k: bytes) -> str | None:
        self._chunks.append(pcm16k)
        return None

    def end_utterance(self) -> str:
        import numpy as np

        audio = np.frombuffer(b"".join(self._chunks), dtype=np.int16).astype(np.float32) / 32768.0
        self._chunks = []
        if audio.size == 0:
            return ""
        segments, _info = self._model.transcribe(audio, language="en", beam_size=1)
        return " ".join(segment.text.strip() for segment in segments).strip()

    def close(self) -> None:
        self._chunks = []


ENGINES: dict[str, EngineFactory] = {
    "pocketsphinx": lambda: PocketsphinxEngine(preset="fast"),
    "pocketsphinx-balanced": lambda: PocketsphinxEngine(preset="balanced"),
    "pocketsphinx-accurate": lambda: PocketsphinxEngine(preset="accurate"),
    "faster-whisper": lambda: FasterWhisperEngine(),
}


def engine_factory(name: str) -> EngineFactory:
    """The factory registered under ``name``, or ``"module:attr"`` imported; checked, not called."""
    if name in ENGINES:
        return ENGINES[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise EngineUnavailable(f"captions engine {name!r} cannot be imported: {exc}") from exc
        if not callable(factory):
            raise EngineUnavailable(f"captions engine {name!r} is not callable")
        return factory
    known = ", ".join(sorted(ENGINES))
    raise EngineUnavailable(f"unknown captions engine {name!r}; known: {known}, or 'module:attr'")


def create_engine(name: str = DEFAULT_ENGINE) -> CaptionEngine:
    return engine_factory(name)()


def configured_engine_name() -> str:
    """``settings.CAPTIONS_ENGINE`` when Django is configured, else ``$CAPTIONS_ENGINE``."""
    try:
        from django.conf import settings

        if settings.configured:
            value = getattr(settings, "CAPTIONS_ENGINE", None)
            if value:
                return str(value)
    except ImportError:  # pragma: no cover - Django is always installed here
        pass
    return os.environ.get("CAPTIONS_ENGINE", DEFAULT_ENGINE)
