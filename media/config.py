"""Media worker settings: plain values, so the Django glue builds them from settings once."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCIceServer


@dataclass(frozen=True)
class MediaConfig:
    ice_servers: tuple[RTCIceServer, ...] = ()
    """The worker's own STUN/TURN servers. Empty (the default) contacts none."""
    host_addresses: tuple[str, ...] | None = None
    """Gather host candidates only on these addresses (process-wide); None: every interface."""
    bitrate: int = 32_000
    """Opus bit rate of every stream the worker encodes (mono voice); bandwidth per listener."""
    opus_fec: bool = False
    """In-band FEC in what the worker encodes, as strong as the loss its listeners report in
    RTCP receiver reports (libopus through ctypes, see media.dsp.LibOpusEncoder)."""
    speaker_fec: bool = False
    """Decode speakers' RTP in sequence order here: a lost packet comes back from the FEC of
    the next one, longer gaps are concealed (instead of aiortc's jitter buffer, which skips)."""
    opus_dtx: bool = False
    """Discontinuous transmission in what the worker encodes: in silence a tick sends nothing
    but a comfort-noise update every 400 ms (origin.DTX_FRAME_BYTES)."""
    red_distance: int = 2
    """RED (RFC 2198, media.red): how many earlier frames each packet repeats, for peers that
    negotiated RED while their receiver reports show loss; 0 never answers with RED. A lossy
    listener's packets carry ~3 frames instead of one (bench/RESULTS.md, "Networks")."""
    red_from_speakers: bool = True
    """Ask a speaker whose packets are lost on the way to send RED: a ``reoffer``, answered
    with RED before Opus, which is what makes Chromium send it; a lost packet then comes back
    whole from the next one. RED raises a speaker's upload from ~55 to ~85 kb/s with headers,
    so everyone starts on Opus, and a speaker whose RED queues on their uplink goes back to it
    (``Origin._watch_uplinks``). False: speakers always send Opus with in-band FEC (RED still
    goes to them when they lose packets)."""
    lossy_speaker_bitrate: int = 48_000
    """The Opus bit rate a speaker whose packets are lost is asked to send at, with RED (the
    same ``reoffer``); 0 never asks. A browser sizes its in-band FEC from the loss we report,
    and those bits come out of the frame: at 32 kb/s with FEC for 5 % a speaker's voice scores
    PESQ-WB 3.43 through the origin, at 48 kb/s 3.69 (bench/RESULTS.md, "Networks"). It costs
    that speaker's upload only; what listeners get is the origin's ``bitrate``."""
    opus_complexity: int = 10
    """libopus complexity 0..10. 10 costs ~190 µs of CPU per 20 ms frame against ~120 at 5
    (one encode per Space per tick for every listener, plus one per talker) and lifts what a
    listener hears through two Opus generations from PESQ-WB 3.35 to 3.61, and at 5 % loss on
    both legs from 2.1 to 2.7 (bench/RESULTS.md, "Networks")."""
    max_stage: int = 13
    """Host + 2 co-hosts + 10 speakers. The services layer enforces the real limits."""
    levels_interval: float = 0.25
    speaking_threshold_dbov: float = -50.0
    connect_timeout: float = 20.0
    """A peer not connected this long after its answer is dropped."""
    gc_freeze: bool = True
    """Move long-lived objects out of the cyclic GC's reach after joins (see media.gcpolicy)."""
    max_late_ticks: int = 5
    """When the loop falls this many 20 ms ticks behind, skip ahead instead of bursting."""

    def __post_init__(self) -> None:
        # At start-up, with the setting's name, rather than from libopus on the first tick.
        if not 6_000 <= self.bitrate <= 510_000:
            raise ValueError(f"MEDIA_OPUS_BITRATE must be 6000..510000 b/s, not {self.bitrate}")
        if not 0 <= self.opus_complexity <= 10:
            raise ValueError(f"MEDIA_OPUS_COMPLEXITY must be 0..10, not {self.opus_complexity}")
        if self.lossy_speaker_bitrate and not 6_000 <= self.lossy_speaker_bitrate <= 510_000:
            raise ValueError(
                "MEDIA_LOSSY_SPEAKER_BITRATE must be 0 or 6000..510000 b/s, "
                f"not {self.lossy_speaker_bitrate}"
            )
        if not 0 <= self.red_distance <= 3:
            raise ValueError(f"MEDIA_RED_DISTANCE must be 0..3, not {self.red_distance}")
