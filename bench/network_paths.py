"""Moving and blocked networks: ICE restart gap, and a relay-only join through TURN over TCP.

    .venv/bin/python -m bench.network_paths --json     # {"ice_restart_gap_s", "turn_tcp_join_s"}
    .venv/bin/python -m bench.network_paths --details  # every run, and what was checked

Needs root (a network namespace and nftables) and Debian's coturn (``turnserver``).
``measure()`` builds everything itself and removes it, even on failure: a network namespace
``spi-<pid>`` with only its loopback up, inside which a child process runs a media worker, a
speaker, the clients, nftables rules and coturn, all on 127.0.0.1 of that namespace and so
unreachable from (and harmless to) the rest of the machine. The child is bounded in time.

- ``ice_restart_gap_s`` (median of ``RESTART_RUNS``): a listener hears a speaker; its current
  path is blocked (an nftables rule dropping its UDP port both ways in the namespace's input
  hook). The client sees the worker's 20 ms packets stop, restarts (``MediaClient.keep_alive``:
  a new peer connection, a new offer, which the worker swaps in keeping the listener's place)
  and hears again. The gap runs from the moment the rule is in force to the arrival of the
  first RTP packet on the new connection: detection (``STALL_S`` of silence), the offer, the
  answer, ICE checks and DTLS.
- ``turn_tcp_join_s`` (median of ``TURN_RUNS``): coturn on a free port with
  ``use-auth-secret``, credentials in the REST scheme from ``media.ice`` (as the site hands
  them out); a client with iceTransportPolicy "relay" and the ``?transport=tcp`` URL joins a
  Space where a speaker talks. From creating the client to its first decoded audio frame from
  the mix. Each run checks that the nominated pair really is a relayed candidate over TCP.

``--details`` also has ``address_move``: the listener's address is deleted and another added,
and the client restarts on that network-change notice (as the browser does on ``online`` /
``navigator.connection``), without waiting for silence.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc import RTCIceServer

from media.client import MediaClient, ToneTrack, tone_amplitude
from media.config import MediaConfig
from media.ice import client_ice_servers, restrict_host_addresses, with_turn_tcp
from media.worker import MediaWorker

SPACE = "paths"
LOOPBACK = "127.0.0.1"
TONE_HZ = 440
STALL_S = 0.4
RESTART_RUNS = 3
TURN_RUNS = 3
CHILD_SECONDS = 150.0
NAMESPACE_ENV = "SPI_NETNS"


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# --- What the host must have ---------------------------------------------------------------------


def missing_tools() -> str | None:
    """None when this can run here, else what to install or how to run it."""
    if os.geteuid() != 0:
        return "needs root (a network namespace and nftables): run as root"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("turnserver", "coturn")):
        if shutil.which(tool) is None:
            return f"needs `{tool}`: apt-get install {package}"
    return None


def turnserver_missing() -> str | None:
    if shutil.which("turnserver") is None:
        return "needs Debian's coturn: apt-get install coturn"
    return None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for TCP and UDP on loopback (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind((LOOPBACK, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port on loopback")


# --- coturn ---------------------------------------------------------------------------------------


class Coturn:
    """Debian's ``turnserver`` on loopback with the shared-secret (REST) scheme, stopped on exit.

    ``allow-loopback-peers``: the worker's candidates are on 127.0.0.1, which coturn refuses as a
    peer by default. No TLS, no CLI, no database, a log file of its own.
    """

    def __init__(self, secret: str, *, realm: str = "spaces.test") -> None:
        self.secret = secret
        self.realm = realm
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="spi-coturn-")
        self.log_path = Path(self._dir.name) / "turn.log"

    @property
    def urls(self) -> list[str]:
        """The URLs the site would hand out for TURN_URL=turn:127.0.0.1:<port>."""
        return with_turn_tcp([f"turn:{LOOPBACK}:{self.port}"])

    def start(self, within: float = 10.0) -> None:
        relay_min = free_port(socket.SOCK_DGRAM)
        self.process = subprocess.Popen(
            [
                "turnserver",
                "-n",  # no configuration file
                f"--listening-ip={LOOPBACK}",
                f"--relay-ip={LOOPBACK}",
                f"--listening-port={self.port}",
                "--use-auth-secret",
                f"--static-auth-secret={self.secret}",
                f"--realm={self.realm}",
                "--allow-loopback-peers",
                "--no-tls",
                "--no-dtls",
                "--no-cli",
                "--no-multicast-peers",
                f"--min-port={min(relay_min, 60000)}",
                f"--max-port={min(relay_min, 60000) + 200}",
                f"--log-file={self.log_path}",
                "--simple-log",
                "--no-stdout-log",
                f"--pidfile={Path(self._dir.name) / 'turn.pid'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited: {self.log_tail()}")
            with socket.socket() as probe:
                probe.settimeout(0.2)
                if probe.connect_ex((LOOPBACK, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"turnserver did not listen within {within} s: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._dir.cleanup()

    def __enter__(self) -> Coturn:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def relay_ice_servers(turn: Coturn, user_id: str, *, transport: str = "tcp") -> list[RTCIceServer]:
    """The client's iceServers as the site hands them out, keeping the URL of ``transport``
    (aiortc uses only the first TURN URL it is given)."""
    servers = client_ice_servers(user_id, turn_urls=turn.urls, turn_secret=turn.secret, ttl=600)
    out = []
    for server in servers:
        urls = [u for u in server["urls"] if u.endswith(f"?transport={transport}")]
        if urls:
            out.append(RTCIceServer(urls, server["username"], server["credential"]))
    return out


def nominated_pair(client: MediaClient) -> Any:
    transceiver = client.pc.getTransceivers()[0]
    return transceiver.receiver.transport.transport._connection._nominated.get(1)


# --- The Space: a worker and a speaker ------------------------------------------------------------


@contextlib.asynccontextmanager
async def live_space() -> AsyncIterator[tuple[MediaWorker, list[MediaClient]]]:
    """A worker on loopback with a speaker sending a tone; the list collects clients to close."""
    restrict_host_addresses([LOOPBACK])
    worker = MediaWorker(MediaConfig(host_addresses=(LOOPBACK,), gc_freeze=False))
    clients: list[MediaClient] = []
    try:
        speaker = MediaClient(
            exchange_for(worker, "speaker", "speaker"), send=ToneTrack(TONE_HZ), receive="none"
        )
        clients.append(speaker)
        await speaker.connect(within=10)
        if not await worker.wait_connected(SPACE, "speaker", within=10):
            raise RuntimeError("the speaker did not connect")
        yield worker, clients
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)
        await worker.close()
        restrict_host_addresses(None)


def exchange_for(worker: MediaWorker, user_id: str, role: str) -> Any:
    async def exchange(offer: str) -> str:
        return await worker.join(SPACE, user_id, role, offer)

    return exchange


# --- ICE restart after a blocked path -------------------------------------------------------------


class Blocker:
    """nftables rules, in this process's network namespace only, dropping UDP ports both ways.

    Input hook: on loopback every packet passes it once, whichever way it goes, and a drop there
    does not fail the sender's ``sendto`` (an output-hook drop does, with EPERM)."""

    def __init__(self) -> None:
        self.table = f"spi_{os.getpid()}"
        self.created = False

    async def _nft(self, script: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "nft",
            "-f",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(script.encode()), 10)
        if proc.returncode != 0:
            raise RuntimeError(f"nft failed: {err.decode(errors='replace')}")

    async def block(self, port: int) -> None:
        if not self.created:
            await self._nft(
                f"table inet {self.table} {{\n chain input {{\n"
                "  type filter hook input priority filter - 10; policy accept;\n }\n}\n"
            )
            self.created = True
        await self._nft(
            f"add rule inet {self.table} input udp dport {port} drop\n"
            f"add rule inet {self.table} input udp sport {port} drop\n"
        )

    async def remove(self) -> None:
        if self.created:
            await self._nft(f"delete table inet {self.table}\n")
            self.created = False


async def restart_runs(runs: int = RESTART_RUNS, *, stall: float = STALL_S) -> dict[str, Any]:
    """Block the listener's path ``runs`` times; each time, measure until it hears again."""
    loop = asyncio.get_running_loop()
    blocker = Blocker()
    gaps: list[float] = []
    checks: list[dict[str, Any]] = []
    try:
        async with live_space() as (worker, clients):
            listener = MediaClient(exchange_for(worker, "listener", "listener"), receive="rtp")
            clients.append(listener)
            await listener.connect(within=10)
            keep = asyncio.ensure_future(
                listener.keep_alive(stall=stall, within=5, max_restarts=runs + 2)
            )
            try:
                for run in range(runs):
                    before = listener.restarts
                    await _until(lambda b=before: _heard_on(listener, b) >= 25, 10)
                    pair = nominated_pair(listener)
                    if pair is None:
                        raise RuntimeError("the listener has no nominated pair")
                    place = worker.participants(SPACE).get("listener")
                    await blocker.block(pair.local_candidate.port)
                    blocked_at = loop.time()
                    if not await _until(lambda b=before: _heard_on(listener, b + 1) > 0, 15):
                        raise RuntimeError(f"run {run}: no audio after the path was blocked")
                    first = next(p for p in listener.packets if p.connection == before + 1)
                    gaps.append(first.arrival - blocked_at)
                    await _until(lambda b=before: _heard_on(listener, b + 1) >= 50, 10)
                    heard = listener.decoded_packets()[-25:]
                    pcm = [f.pcm for f in heard]
                    amplitude = tone_amplitude(_concat(pcm), TONE_HZ)
                    checks.append(
                        {
                            "gap_s": round(gaps[-1], 3),
                            "restarts": listener.restarts - before,
                            "place_before": place,
                            "place_after": worker.participants(SPACE).get("listener"),
                            "tone_amplitude_after": round(amplitude, 3),
                            "speaker_still_connected": worker.participants(SPACE)["speaker"][
                                "connected"
                            ],
                        }
                    )
            finally:
                keep.cancel()
                await asyncio.gather(keep, return_exceptions=True)
    finally:
        await blocker.remove()
    return {"gaps_s": [round(g, 3) for g in gaps], "runs": checks, "stall_s": stall}


async def _ip(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec("ip", *args, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {err.decode(errors='replace')}")


async def address_move_runs(runs: int = RESTART_RUNS) -> dict[str, Any]:
    """The listener's address moves (deleted, a new one added: a new network); the client
    restarts on the network-change notice (a browser's ``online`` / ``navigator.connection``
    event) without waiting for silence. From the move to the first packet on the new path.

    The client's addresses sit on a veth of this namespace (no dummy driver on this kernel), in
    198.18.0.0/15 (the range set aside for benchmarks); host candidates are gathered on the
    client's address for its offers and on loopback for the worker's answers
    (``restrict_host_addresses`` is per process, and the two gather in turn)."""
    loop = asyncio.get_running_loop()
    device = "spi0"
    await _ip("link", "add", device, "type", "veth", "peer", "name", "spi1")
    gaps: list[float] = []
    try:
        await _ip("link", "set", device, "up")
        await _ip("link", "set", "spi1", "up")
        address = "198.18.0.2"
        await _ip("addr", "add", f"{address}/32", "dev", device)
        async with live_space() as (worker, clients):

            async def exchange(offer: str) -> str:
                restrict_host_addresses([LOOPBACK])
                try:
                    return await worker.join(SPACE, "mover", "listener", offer)
                finally:
                    restrict_host_addresses([address])

            restrict_host_addresses([address])
            mover = MediaClient(exchange, receive="rtp", name="mover")
            clients.append(mover)
            await mover.connect(within=10)
            for run in range(runs):
                before = mover.restarts
                if not await _until(lambda b=before: _heard_on(mover, b) >= 25, 10):
                    raise RuntimeError(f"move {run}: nothing heard before the move")
                pair = nominated_pair(mover)
                if pair is None or pair.local_candidate.host != address:
                    raise RuntimeError(f"move {run}: the path is not on {address}")
                moved_to = f"198.18.0.{3 + run}"
                await _ip("addr", "del", f"{address}/32", "dev", device)
                await _ip("addr", "add", f"{moved_to}/32", "dev", device)
                moved_at = loop.time()
                address = moved_to
                restrict_host_addresses([address])
                await mover.restart(within=10)
                if not await _until(lambda b=before: _heard_on(mover, b + 1) > 0, 10):
                    raise RuntimeError(f"move {run}: no audio after the move")
                first = next(p for p in mover.packets if p.connection == before + 1)
                gaps.append(first.arrival - moved_at)
            restrict_host_addresses([LOOPBACK])
    finally:
        with contextlib.suppress(Exception):
            await _ip("link", "del", device)
    return {"gaps_s": [round(g, 3) for g in gaps]}


def _heard_on(client: MediaClient, connection: int) -> int:
    return sum(1 for p in client.packets if p.connection == connection)


def _concat(chunks: list[Any]) -> Any:
    import numpy as np

    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


async def _until(predicate: Any, within: float) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# --- A relay-only join through TURN over TCP ------------------------------------------------------


async def _first_heard(worker: MediaWorker, user: str, **kwargs: Any) -> tuple[MediaClient, float]:
    """A listener joins; seconds from creating its client to its first decoded frame."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    client = MediaClient(
        exchange_for(worker, user, "listener"), receive="decode", name=user, **kwargs
    )
    await client.connect(within=15)
    if not await _until(lambda: len(client.frames) > 0, 15):
        await client.close()
        raise RuntimeError(f"{user}: no audio")
    return client, client.frames[0].arrival - started


async def turn_tcp_runs(runs: int = TURN_RUNS) -> dict[str, Any]:
    """Each run: a relay-only join over TURN/TCP, then (the baseline, same run) a direct one."""
    checks: list[dict[str, Any]] = []
    with Coturn(secrets.token_hex(16)) as turn:
        async with live_space() as (worker, _):
            for run in range(runs):
                user = f"relay-{run}"
                client, join_s = await _first_heard(
                    worker, user, ice_servers=relay_ice_servers(turn, user), relay_only=True
                )
                try:
                    pair = nominated_pair(client)
                    ice = client.pc.getTransceivers()[0].receiver.transport.transport
                    turn_transport = ice.iceGatherer._connection.turn_transport
                    await _until(lambda c=client: len(c.frames) >= 75, 10)
                    amplitude = tone_amplitude(client.audio(client.frames[-25].arrival), TONE_HZ)
                finally:
                    await client.close()
                    await worker.leave(SPACE, user)
                direct, direct_s = await _first_heard(worker, f"direct-{run}")
                await direct.close()
                await worker.leave(SPACE, f"direct-{run}")
                checks.append(
                    {
                        "join_s": round(join_s, 3),
                        "direct_join_s": round(direct_s, 3),
                        "local_candidate": pair.local_candidate.type if pair else None,
                        "turn_transport": turn_transport,
                        "tone_amplitude": round(amplitude, 3),
                    }
                )
    return {"runs": checks}


# --- Where it runs: a namespace of its own --------------------------------------------------------


async def _child(which: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"load_average": list(os.getloadavg())}
    if "restart" in which:
        out["restart"] = await restart_runs()
    if "move" in which:
        out["address_move"] = await address_move_runs()
    if "turn" in which:
        out["turn"] = await turn_tcp_runs()
    return out


def run_in_namespace(which: tuple[str, ...] = ("restart", "move", "turn")) -> dict[str, Any]:
    """Make ``spi-<pid>``, run the measurements in a child process inside it, remove it."""
    missing = missing_tools()
    if missing:
        raise RuntimeError(missing)
    name = f"spi-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(
            ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
            check=True,
            capture_output=True,
        )
        root = Path(__file__).resolve().parents[1]
        env = {**os.environ, NAMESPACE_ENV: name, "PYTHONPATH": str(root)}
        cmd = ["ip", "netns", "exec", name, sys.executable, "-m", "bench.network_paths"]
        proc = subprocess.run(
            [*cmd, "--child", ",".join(which)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_SECONDS,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the measurement failed:\n{proc.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(proc.stdout)
        return result
    finally:
        # Deleting the namespace also ends its nftables table, sockets and routes; coturn and
        # the child were ended above (the child stops coturn; a timeout kills the child, whose
        # coturn then has no namespace left to serve and is killed here).
        _kill_namespace_processes(name)
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _kill_namespace_processes(name: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout
    for pid in pids.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)


def measure() -> dict[str, float]:
    """{"ice_restart_gap_s": median gap, "turn_tcp_join_s": median join}, built and cleaned
    up here (see the module docstring). Raises with the reason when this host cannot run it."""
    details = run_in_namespace()
    return summarize(details)


def summarize(details: dict[str, Any]) -> dict[str, float]:
    return {
        "ice_restart_gap_s": round(statistics.median(details["restart"]["gaps_s"]), 3),
        "turn_tcp_join_s": round(
            statistics.median(r["join_s"] for r in details["turn"]["runs"]), 3
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print measure()'s figures")
    parser.add_argument("--details", action="store_true", help="print every run and check")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if not os.environ.get(NAMESPACE_ENV, "").startswith("spi-"):
            parser.error("--child runs only inside the namespace measure() makes")
        result = asyncio.run(asyncio.wait_for(_child(args.child.split(",")), CHILD_SECONDS - 10))
        print(json.dumps(result))
        return 0
    details = run_in_namespace()
    figures = summarize(details)
    if args.details:
        print(json.dumps({"figures": figures, **details}, indent=2))
    elif args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key}: {value} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
