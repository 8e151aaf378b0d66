"""Live captions: offline speech recognition of each stage member's decoded audio.

- ``engine``: the engine interface, pocketsphinx (default, offline), faster-whisper (optional),
  and the registry that picks one by name (``CAPTIONS_ENGINE``).
- ``recognizer``: :class:`CaptionRecognizer`, fed 20 ms frames by the media loop without ever
  blocking it; it hands them to a pump thread or a child process.
- ``segmenter``: what runs there: resampling, energy-VAD utterances per speaker, the engine,
  partial and final :class:`Caption` results.
- ``webvtt``: transcript rendering (WebVTT and plain text) for the download endpoints.
"""

from media.captions.engine import (
    DEFAULT_ENGINE,
    CaptionEngine,
    EngineUnavailable,
    configured_engine_name,
    create_engine,
    engine_factory,
)
from media.captions.recognizer import CaptionRecognizer
from media.captions.segmenter import Caption, VadConfig
from media.captions.webvtt import TranscriptSegment, transcript_text, transcript_webvtt

__all__ = [
    "DEFAULT_ENGINE",
    "Caption",
    "CaptionEngine",
    "CaptionRecognizer",
    "EngineUnavailable",
    "TranscriptSegment",
    "VadConfig",
    "configured_engine_name",
    "create_engine",
    "engine_factory",
    "transcript_text",
    "transcript_webvtt",
]
