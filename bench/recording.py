"""Recording benchmark (issue 18): what recording a Space costs its origin, and consent.

    python -m bench.recording --json                     # 100 listeners, 10 s per phase
    python -m bench.recording --seconds 3 --listeners 5 --json   # smoke run, about 20 s

Set-up as in ``bench.media_fanout`` (whose process, control-socket and pinning helpers it uses):
the worker (``media.MediaWorker``) in its own process pinned to core 0; in this process, on core
1, three speakers sending pre-encoded tones (440, 660 and 880 Hz) and N listeners: N - 1 thin ones
counting RTP at the socket and one probe keeping its RTP to decode afterwards. One Space, the same
peers throughout, fixed windows in order (``--rounds R`` repeats the first three, a new part of
the recording each time, and reports each phase's median window):

1. ``not_recording``;
2. ``recording``: the origin records (``Origin.start_recording`` through a bench-only control
   op: in the product a join carrying ``recording=`` starts it) into a sink writing files to a
   temporary directory, each file through a temporary name and ``os.replace``;
3. ``recording_with_optout``: the 880 Hz speaker keeps their voice out
   (``MediaWorker.set_recorded``), so the origin encodes a second mix without them;
4. ``not_recording_after`` (once, at the end): the recorder closed, to see how far the box
   drifted over the run.

"cpu share" is the worker process's CPU time (all threads, the recorder's writer included) over
the window's wall time: a fraction of one core. On a shared two-core box that moves by a percent
or so of a core from window to window, more than recording itself costs, so the worker also
counts the CPU of the recording's own steps (``recording_path_cpu_share``: the loop's time in
the origin's recording step, the second encode included, plus the writer thread's).

After the run the replay is read back as a player would (playlist, init segment and media
segments concatenated, demuxed and decoded by PyAV): its tones by FFT peak picking over the whole
replay, and the 880 Hz tone's amplitude in the audio recorded before and during the opt-out
(tick-exact: a segment's number gives its first tick). The probe's RTP is mapped to the same
ticks (``MediaWorker.rtp_sequence``), so "heard live during the opt-out" is judged on the very
ticks the replay must lack. Everything is on 127.0.0.1 and bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av
import numpy as np
import numpy.typing as npt

from bench.media_fanout import (
    CLIENT_CORE,
    LOOPBACK,
    SPACE,
    WORKER_CORE,
    DirectServer,
    WorkerProcess,
    join_all,
    log,
    machine,
    measure,
    pin_this_process,
    serve_control,
)
from media.client import EncodedToneTrack, MediaClient, tone_amplitude
from media.dsp import FRAME_SAMPLES, SAMPLE_RATE, frame_to_mono
from media.hls import parse_media_playlist
from media.ice import restrict_host_addresses
from media.recording import SEGMENT_TICKS, PartSummary

TONES = {"speaker0": 440, "speaker1": 660, "speaker2": 880}
OPTED_OUT = "speaker2"
PROBE = "probe"
GOAL_RECORDING = 0.03
"""Recording may cost the origin at most this much more of a core than not recording."""
GOAL_OPTOUT = 0.06
"""...and with one stage member left out (a second encode), at most this much."""
HEARD = 0.05
"""Amplitude (fraction of full scale) of a tone that is clearly there; the speakers send 0.3.
The same thresholds as tests/media/test_audio.py."""
ABSENT = 0.01
"""Below this a tone is gone; between the two it counts as present in the replay (the
consent check errs towards failing)."""
EDGE_TICKS = 3
"""Ticks left out next to a change: the decoder's delay carries a few ms across it."""
FLOOR_HZ = 1000
"""Where no tone and no low-order product of the tones falls: the codec's noise floor. (880 Hz
itself is 2 x 440 and 2 x 660 - 440, so coding distortion lands there, a little above it.)"""
PEAK_FLOOR_DB = -20.0
"""A spectral peak counts as a tone within this many dB of the strongest one."""

PHASES = ("not_recording", "recording", "recording_with_optout", "not_recording_after")


# -- the worker process -------------------------------------------------------------------------


class DirectorySink:
    """A RecordingSink writing each part to ``root/<part>/``: every file whole or not at all.

    Called on a recorder's writer thread only (one thread per part).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: Counter[str] = Counter()
        self.write_seconds: dict[str, list[float]] = {}
        self.started_parts: list[str] = []
        self.summaries: list[PartSummary] = []
        self._thread_cpu: dict[str, float] = {}

    @property
    def writer_cpu(self) -> float:
        """CPU seconds of every part's writer thread so far."""
        return sum(self._thread_cpu.values())

    def part_cpu(self, part: str) -> float:
        return self._thread_cpu.get(part, 0.0)

    def write(self, part: str, name: str, data: bytes) -> None:
        started = time.perf_counter()
        folder = self.root / part
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{name}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, folder / name)
        self.write_seconds.setdefault(part, []).append(time.perf_counter() - started)
        self.files[part] += 1
        self._thread_cpu[part] = time.thread_time()

    def started(self, part: str, wall_start: float) -> None:
        self.started_parts.append(part)

    def closed(self, summary: PartSummary) -> None:
        self.summaries.append(summary)
        self._thread_cpu[summary.name] = time.thread_time()


class RecordingServer(DirectServer):
    """media_fanout's DirectServer, plus the ops that switch recording and consent."""

    def __init__(self) -> None:
        super().__init__()
        self.sink: DirectorySink | None = None
        self._writer_cpu0 = 0.0
        self.record_tick_cpu = 0.0
        self._record_tick_cpu0 = 0.0
        self.last_stats: dict[str, Any] = {}

    def _origin(self) -> Any:
        # A bench may reach the origin: in the product only a join with recording= starts it.
        return self.worker._origins[SPACE]

    async def start_recording(self, directory: str) -> dict[str, Any]:
        origin = self._origin()
        if self.sink is None:
            self._time_record_tick(origin)
            self.sink = DirectorySink(Path(directory))
        recorder = origin.start_recording(self.sink)
        return {"first_index": recorder.first_index, "part": recorder.part}

    def _time_record_tick(self, origin: Any) -> None:
        """Count the loop's CPU in the origin's recording step (the second encode, the
        recorder's bookkeeping): the recording's own cost, free of the box's noise."""
        inner = origin._record_tick

        def timed(*args: Any) -> None:
            started = time.thread_time()
            try:
                inner(*args)
            finally:
                self.record_tick_cpu += time.thread_time() - started

        origin._record_tick = timed

    async def set_recorded(self, user: str, recorded: bool) -> dict[str, Any]:
        if not await self.worker.set_recorded(SPACE, user, recorded):
            raise RuntimeError(f"{user} is not in the Space")
        change = self.worker.applied_changes(SPACE)[-1]
        return {"index": change.index, "change": change.change}

    async def stop_recording(self) -> dict[str, Any]:
        origin = self._origin()
        recorder = origin.recorder
        if recorder is None or self.sink is None:
            raise RuntimeError("not recording")
        index = origin.index
        recorder.close()
        loop = asyncio.get_running_loop()
        finished = await loop.run_in_executor(None, recorder.wait_closed, 30.0)
        origin.recorder = None  # and the next set_recorded drops the second encoder
        writes = sorted(self.sink.write_seconds.get(recorder.part, []))
        return {
            "index": index,
            "finished": finished,
            "dropped_segments": recorder.dropped_segments,
            "summary": asdict(self.sink.summaries[-1]) if self.sink.summaries else None,
            "started": recorder.part in self.sink.started_parts,
            "files_written": self.sink.files[recorder.part],
            "writer_thread_cpu_s": round(self.sink.part_cpu(recorder.part), 4),
            "write_ms_p50": _ms(writes, 50),
            "write_ms_max": _ms(writes, 100),
        }

    async def rtp_sequence(self, user: str, index: int) -> dict[str, Any]:
        return {"seq": self.worker.rtp_sequence(SPACE, user, index)}

    async def reset(self) -> dict[str, Any]:
        self._writer_cpu0 = self.sink.writer_cpu if self.sink else 0.0
        self._record_tick_cpu0 = self.record_tick_cpu
        return await super().reset()

    async def stats(self) -> dict[str, Any]:
        found = await super().stats()
        found["writer_cpu"] = (self.sink.writer_cpu if self.sink else 0.0) - self._writer_cpu0
        found["record_tick_cpu"] = self.record_tick_cpu - self._record_tick_cpu0
        found["index"] = self._origin().index
        self.last_stats = found
        return found

    async def last(self) -> dict[str, Any]:
        """The raw figures of the last ``stats`` (``measure`` keeps only rounded ones)."""
        return self.last_stats


def _ms(sorted_seconds: list[float], q: float) -> float | None:
    if not sorted_seconds:
        return None
    return round(float(np.percentile(sorted_seconds, q)) * 1000, 2)


def recording_worker_main(core: int | None, pipe: Connection, lifetime: float) -> None:
    if core is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core})
    asyncio.run(_serve(pipe, lifetime))


async def _serve(pipe: Connection, lifetime: float) -> None:
    restrict_host_addresses([LOOPBACK])
    await serve_control(RecordingServer(), pipe, lifetime)


class RecordingProcess(WorkerProcess):
    """media_fanout's worker process, running a RecordingServer."""

    def __init__(self, *, core: int | None, lifetime: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(
            target=recording_worker_main, args=(core, child, lifetime), daemon=True
        )
        self.process.start()
        if not parent.poll(30):
            self.process.kill()
            raise RuntimeError("the worker process did not start")
        self.port = parent.recv()


# -- what was recorded, what was heard ----------------------------------------------------------

Pcm = npt.NDArray[np.float32]


def read_replay(root: Path, part: str) -> tuple[Pcm, dict[str, Any]]:
    """The part's audio as a player gets it, each decoded frame at its place in the part.

    Returns the samples (int16 scale, from the part's first tick) and what the files held."""
    folder = root / part
    parts, ended = parse_media_playlist((folder / "index.m3u8").read_text())
    if len(parts) != 1:
        raise RuntimeError(f"expected one part in the playlist, found {len(parts)}")
    segments = parts[0].segments
    data = (folder / parts[0].map_uri).read_bytes() + b"".join(
        (folder / s.uri).read_bytes() for s in segments
    )
    pcm = np.zeros(int(parts[0].duration * SAMPLE_RATE) + FRAME_SAMPLES, dtype=np.float32)
    decoded = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                raise RuntimeError("a decoded frame has no timestamp")
            # fMP4 of media.fmp4: pts counts 48 kHz samples from the part's first tick.
            start = int(frame.pts * frame.time_base * SAMPLE_RATE)
            samples = frame_to_mono(frame)
            pcm[start : start + len(samples)] = samples[: max(0, len(pcm) - start)]
            decoded += 1
    summary = json.loads((folder / "part.json").read_text())
    return pcm, {
        "playlist_ended": ended,
        "segments": [s.sequence for s in segments],
        "segments_written": len(segments),
        "frames_decoded": decoded,
        "seconds": round(parts[0].duration, 2),
        "bytes": len(data),
        "part_json": summary,
    }


def tone_peaks(pcm: Pcm) -> list[dict[str, float]]:
    """Tones over the whole signal: peaks of the 1 Hz-resolution average spectrum (Welch, Hann,
    1 s blocks) within PEAK_FLOOR_DB of the strongest and above ABSENT."""
    blocks = len(pcm) // SAMPLE_RATE
    if blocks == 0:
        return []
    window = np.hanning(SAMPLE_RATE).astype(np.float32)
    power = np.zeros(SAMPLE_RATE // 2 + 1)
    for n in range(blocks):
        spectrum = np.fft.rfft(pcm[n * SAMPLE_RATE : (n + 1) * SAMPLE_RATE] * window)
        power += np.abs(spectrum) ** 2
    amplitude = 2.0 * np.sqrt(power / blocks) / window.sum() / 32767.0
    amplitude[:20] = 0.0  # DC and rumble
    floor = max(ABSENT, float(amplitude.max()) * 10 ** (PEAK_FLOOR_DB / 20))
    inner = amplitude[1:-1]
    is_peak = (inner >= amplitude[:-2]) & (inner > amplitude[2:]) & (inner >= floor)
    peaks = [
        {"hz": float(i + 1), "amplitude": round(float(amplitude[i + 1]), 4)}
        for i in np.flatnonzero(is_peak)
    ]
    return peaks


def amplitudes(pcm: Pcm) -> dict[str, float]:
    found = {str(hz): round(tone_amplitude(pcm, hz), 5) for hz in sorted(TONES.values())}
    found[f"floor_{FLOOR_HZ}"] = round(tone_amplitude(pcm, FLOOR_HZ), 5)
    return found


def probe_ticks(probe: MediaClient, seq0: int) -> dict[int, Pcm]:
    """The probe's RTP decoded in order, keyed by mix tick (the worker's sequence of tick 0 is
    ``seq0``); the run lasts far less than the 22 minutes after which sequences wrap."""
    by_tick = {(p.sequence_number - seq0) & 0xFFFF: p.payload for p in probe.packets}
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate = SAMPLE_RATE
    decoder.layout = "mono"
    out: dict[int, Pcm] = {}
    for tick in sorted(by_tick):
        frames = [frame_to_mono(f) for f in decoder.decode(av.Packet(by_tick[tick]))]
        if frames:
            out[tick] = np.concatenate(frames)
    return out


def heard_between(frames: dict[int, Pcm], first: int, end: int) -> tuple[Pcm, int]:
    """The probe's audio of ticks [first, end) and how many of those ticks it got."""
    chosen = [frames[t] for t in range(first, end) if t in frames]
    return (np.concatenate(chosen) if chosen else np.zeros(0, np.float32)), len(chosen)


# -- the run ------------------------------------------------------------------------------------

PHASE_KEYS = (
    "delivery_ratio",
    "worst_listener_ratio",
    "p99_last_packet_of_tick_ms",
    "p99_added_ms",
    "p50_added_ms",
    "p99_wakeup_late_ms",
    "worker_skipped_ticks",
    "worker_runqueue_wait_share",
    "client_runqueue_wait_share",
    "worker_preempted",
    "listeners_silent",
    "window_s",
)


def judge_part(
    directory: Path, part: str, probe: dict[int, Pcm], marks: dict[str, int]
) -> tuple[Pcm, dict[str, Any]]:
    """One round's part: the 880 Hz tone in the replay and in the probe's audio, before and
    during the opt-out, on the same ticks."""
    pcm, replay = read_replay(directory, part)
    first = marks["recording_start"]
    optout_at = marks["optout_start"] - first
    recorded_until = marks["recording_end"] - first
    before = pcm[EDGE_TICKS * FRAME_SAMPLES : (optout_at - EDGE_TICKS) * FRAME_SAMPLES]
    during = pcm[(optout_at + EDGE_TICKS) * FRAME_SAMPLES : recorded_until * FRAME_SAMPLES]
    replay["before_optout_segments"] = [
        s for s in replay["segments"] if s * SEGMENT_TICKS < optout_at
    ]
    replay["optout_segments"] = [
        s for s in replay["segments"] if (s + 1) * SEGMENT_TICKS > optout_at
    ]
    replay["seconds_before_optout"] = round(len(before) / SAMPLE_RATE, 2)
    replay["seconds_during_optout"] = round(len(during) / SAMPLE_RATE, 2)
    replay["amplitude_before_optout"] = amplitudes(before)
    replay["amplitude_during_optout"] = amplitudes(during)
    live_before, n_before = heard_between(
        probe, first + EDGE_TICKS, marks["optout_start"] - EDGE_TICKS
    )
    live_during, n_during = heard_between(
        probe, marks["optout_start"] + EDGE_TICKS, marks["recording_end"]
    )
    hz = TONES[OPTED_OUT]
    judged = {
        "ticks": marks,
        "replay": replay,
        "live": {
            "ticks_before_optout": n_before,
            "ticks_during_optout": n_during,
            "amplitude_before_optout": amplitudes(live_before),
            "amplitude_during_optout": amplitudes(live_during),
        },
        # Not clearly absent counts as present: the check errs towards failing.
        "optout_tone_in_replay": not len(during) or tone_amplitude(during, hz) >= ABSENT,
        "optout_tone_in_replay_before_optout": bool(len(before))
        and tone_amplitude(before, hz) > HEARD,
        "optout_tone_heard_live": bool(n_during) and tone_amplitude(live_during, hz) > HEARD,
        "optout_tone_heard_live_before_optout": bool(n_before)
        and tone_amplitude(live_before, hz) > HEARD,
    }
    return pcm, judged


async def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    restrict_host_addresses([LOOPBACK])
    pin_this_process(CLIENT_CORE)
    info = machine()
    windows = args.rounds * 3 + 1
    lifetime = 120 + windows * (args.seconds + 3) + args.listeners / 10
    worker = RecordingProcess(core=WORKER_CORE, lifetime=lifetime)
    clients: list[MediaClient] = []
    phases: dict[str, list[dict[str, Any]]] = {name: [] for name in PHASES}
    rounds: list[dict[str, Any]] = []

    async def phase(name: str, thin: list[MediaClient]) -> int:
        row = await measure(worker, thin, args.seconds)
        raw = await worker.call("last")
        row = {k: row.get(k) for k in PHASE_KEYS}
        row["cpu_share"] = round(raw["cpu"] / raw["wall"], 4)
        row["recording_path_cpu_share"] = round(
            (raw["record_tick_cpu"] + raw["writer_cpu"]) / raw["wall"], 5
        )
        row["writer_thread_cpu_share"] = round(raw["writer_cpu"] / raw["wall"], 5)
        phases[name].append(row)
        log(f"{name}: {row}")
        return int(raw["index"])

    try:
        speakers = [
            MediaClient(
                worker.exchange(user, "speaker"),
                send=EncodedToneTrack(hz),
                receive="count",
                name=user,
            )
            for user, hz in TONES.items()
        ]
        clients += speakers
        _, failed = await join_all(speakers, rate=args.join_rate)
        if failed:
            raise RuntimeError(f"a speaker could not join: {failed[0]}")
        probe = MediaClient(
            worker.exchange(PROBE, "listener"), sendrecv=False, receive="rtp", name=PROBE
        )
        clients.append(probe)
        await probe.connect(within=20)
        thin = [
            MediaClient(
                worker.exchange(f"listener{i}", "listener"),
                sendrecv=False,
                receive="count",
                name=f"listener{i}",
            )
            for i in range(args.listeners - 1)
        ]
        clients += thin
        thin, join_failures = await join_all(thin, rate=args.join_rate)
        seq0 = (await worker.call("rtp_sequence", user=PROBE, index=0))["seq"]

        for _ in range(args.rounds):
            await phase("not_recording", thin)
            started = await worker.call("start_recording", directory=str(directory))
            await phase("recording", thin)
            optout = await worker.call("set_recorded", user=OPTED_OUT, recorded=False)
            await phase("recording_with_optout", thin)
            stopped = await worker.call("stop_recording", within=40)
            await worker.call("set_recorded", user=OPTED_OUT, recorded=True)
            marks = {
                "recording_start": started["first_index"],
                "optout_start": optout["index"],
                "recording_end": stopped["index"],
            }
            rounds.append({"part": started["part"], "ticks": marks, "recorder": stopped})
        await phase("not_recording_after", thin)
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await worker.stop()
    info["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    heard = probe_ticks(probe, seq0)
    replays: list[Pcm] = []
    for one in rounds:
        pcm, judged = judge_part(directory, one["part"], heard, one["ticks"])
        replays.append(pcm)
        one.update(judged)
    peaks = tone_peaks(np.concatenate(replays))

    shares = {
        name: float(np.median([w["cpu_share"] for w in rows])) for name, rows in phases.items()
    }
    path = {
        name: float(np.median([w["recording_path_cpu_share"] for w in rows]))
        for name, rows in phases.items()
    }
    recording_cost = shares["recording"] - shares["not_recording"]
    optout_cost = shares["recording_with_optout"] - shares["not_recording"]
    dropped = sum(int(one["recorder"]["dropped_segments"]) for one in rounds)
    in_replay = any(one["optout_tone_in_replay"] for one in rounds)
    heard_live = all(one["optout_tone_heard_live"] for one in rounds)
    return {
        "benchmark": "recording",
        "machine": info,
        "seconds": args.seconds,
        "listeners": args.listeners,
        "rounds": args.rounds,
        "speakers_hz": TONES,
        "opted_out": {"user": OPTED_OUT, "hz": TONES[OPTED_OUT]},
        # The contract (with several rounds: the median window of each phase).
        "origin_cpu_share_not_recording": round(shares["not_recording"], 4),
        "origin_cpu_share_recording": round(shares["recording"], 4),
        "origin_cpu_share_recording_with_optout": round(shares["recording_with_optout"], 4),
        "replay_tones_hz": [p["hz"] for p in peaks],
        "optout_tone_in_replay": in_replay,
        "optout_tone_heard_live": heard_live,
        "dropped_segments": dropped,
        # Extras.
        "origin_cpu_share_not_recording_after": round(shares["not_recording_after"], 4),
        "recording_minus_not_recording": round(recording_cost, 4),
        "optout_minus_not_recording": round(optout_cost, 4),
        "recording_path_cpu_share": {
            "recording": round(path["recording"], 5),
            "recording_with_optout": round(path["recording_with_optout"], 5),
        },
        "goals": {
            "recording_max_extra_core": GOAL_RECORDING,
            "optout_max_extra_core": GOAL_OPTOUT,
            "recording_met": recording_cost <= GOAL_RECORDING,
            "optout_met": optout_cost <= GOAL_OPTOUT,
            "optout_out_of_replay_and_heard_live": heard_live and not in_replay,
            "no_dropped_segment": dropped == 0,
        },
        "optout_tone_in_replay_before_optout": all(
            one["optout_tone_in_replay_before_optout"] for one in rounds
        ),
        "segments_written": sum(one["replay"]["segments_written"] for one in rounds),
        "replay_peaks": peaks,
        "join_failures": len(join_failures),
        "phases": phases,
        "per_round": rounds,
    }


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per phase")
    parser.add_argument("--listeners", type=int, default=100, help="listeners, the probe included")
    parser.add_argument(
        "--rounds", type=int, default=1, help="cycles of the three phases (medians reported)"
    )
    parser.add_argument("--join-rate", type=float, default=40.0, help="joins per second")
    parser.add_argument("--keep", help="write the recording here (kept) instead of a temp dir")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if not 2 <= args.seconds <= 600:
        parser.error("--seconds must be in [2, 600]")
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be in 1..10")
    if not 2 <= args.listeners <= 2000:
        parser.error("--listeners must be in 2..2000")
    return args


def cli(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    budget = 300 + (args.rounds * 3 + 1) * (args.seconds + 5) + args.listeners / 5
    if args.keep:
        directory = Path(args.keep)
        directory.mkdir(parents=True, exist_ok=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    try:
        result = asyncio.run(asyncio.wait_for(run(args, directory), budget))
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    goals = result["goals"]
    print(
        f"cpu share: not recording {result['origin_cpu_share_not_recording']:.4f}, recording "
        f"{result['origin_cpu_share_recording']:.4f} "
        f"(+{result['recording_minus_not_recording']:.4f}, goal {GOAL_RECORDING}: "
        f"{'met' if goals['recording_met'] else 'NOT met'}), with opt-out "
        f"{result['origin_cpu_share_recording_with_optout']:.4f} "
        f"(+{result['optout_minus_not_recording']:.4f}, goal {GOAL_OPTOUT}: "
        f"{'met' if goals['optout_met'] else 'NOT met'})"
    )
    print(
        f"replay tones {result['replay_tones_hz']} Hz; opted-out tone in replay: "
        f"{result['optout_tone_in_replay']}, heard live: {result['optout_tone_heard_live']}; "
        f"dropped segments {result['dropped_segments']}"
    )


if __name__ == "__main__":
    cli()
