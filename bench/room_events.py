"""Room events end to end: N real WebSocket listeners in one Space, the host acts K times.

For every event: the time from the host sending the action to the moment the *last* listener
has the event (p50, p99 over the K events), and the delivered ratio over all (listener, event)
pairs. Everything is real: daphne processes serving this project, Redis as the channel layer,
a database with a live Space, WebSocket clients authenticated with session tokens (the
native-app way: no Origin, `X-Session-Token`). 127.0.0.1 only; bounded in count and time.

The listeners run on the servers' own cores here, which no real audience does. `--clients`
picks their library: `picows` (the default; compiled, ~11-16 µs of client CPU per message) or
`websockets` (pure Python, ~40-55 µs: with 1000 of them the clients took more CPU than the
servers and set the latency). Each run reports the listeners' CPU per delivery beside the
servers'. The first `--warmup` host actions (3) are not measured: they carry what a server does
once after a crowd connects.

    .venv/bin/python bench/room_events.py --listeners 100 1000 --json
    .venv/bin/python bench/room_events.py --listeners 1000 --layers pubsub --fanouts hub group
    .venv/bin/python bench/room_events.py --listeners 1000 --layers pubsub \
        --fanouts hub hub-asgi --servers 1 2 --rounds 3
    .venv/bin/python bench/room_events.py --kind comment --listeners 1000 --layers pubsub \
        --servers 2 --posters 20 --comment-seconds 30 --json

Each run is a (layer, fan-out, N) triple:
- layer: `core` (channels_redis.core.RedisChannelLayer) or `pubsub`
  (channels_redis.pubsub.RedisPubSubChannelLayer);
- fan-out: `hub` (the project: one group member per process, spaces/realtime/hub.py, each event
  framed once and sent straight to Daphne's connections in one compiled call per event,
  spaces/realtime/wsframes.py), `hub-py` (the same, each socket's send a Python call:
  `SPACES_WS_SEND=python`, where the kernel is not built), `hub-asgi` (the
  same hub, every copy sent through ASGI: `SPACES_WS_DIRECT_FRAMES=0`) or `group` (the stock
  Channels pattern: every socket a group member, dispatched through Channels' stock `dispatch`,
  which closes old DB connections in a thread per message), for comparison.

`--servers 1 2` runs every variant with one and with two daphne processes (the listeners spread
over them); `--rounds R` repeats the whole set R times, interleaved, so that the noise of a
shared machine falls on every variant alike.

`--kind comment` (issue 21) adds a second phase to every run, on the same servers and the same
listener sockets, after the host's actions: `--posters` (20) more people in the Space, each on a
socket of their own, post text comments (`{"action": "comment"}`) one every `--comment-gap`
(1-2 s, at random) for `--comment-seconds`. Per comment, from its post being sent to the last
listener having `comment.added`; every (listener, comment) pair; comments posted, acknowledged,
refused and received by each listener; the servers' CPU per delivered copy over that phase. The
result gains a `comment` object beside the host-action figures (bench/RESULTS.md documents its
keys). The flood limit is raised for the run (`--comment-rate`, default 120/min against the
product's 10/min: the posters' pace is up to 60 a minute); slow mode stays off, its default.

The database is a temporary SQLite file unless `--database-url` is given (e.g. the local
PostgreSQL database `spaces_bench`). Users, sessions and the participants are written directly
with the ORM: the listeners are already in the Space, so opening a socket attaches (no join
storm before the measurement). Listeners are spread over `--client-procs` processes and over
`--servers` daphne processes. Timestamps are CLOCK_MONOTONIC, comparable across processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONNECT_CONCURRENCY = 32
CONNECT_TIMEOUT = 120.0
DRAIN_TIMEOUT = 10.0
EVENT_TYPE = "captions.toggled"
COMMENT_TYPE = "comment.added"
# How daphne is started; ROOM_EVENTS_DAPHNE names a script to run instead (e.g. under a profiler).
DAPHNE = (
    [sys.executable, os.environ["ROOM_EVENTS_DAPHNE"]]
    if os.environ.get("ROOM_EVENTS_DAPHNE")
    else [sys.executable, "-m", "daphne"]
)


# --- The stock-Channels baseline, served by daphne as bench.room_events:baseline_application ------


class _BaselineApplication:
    """Built on first use, inside the daphne process (Django is set up by then)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.app is None:
            self.app = _build_baseline()
        await self.app(scope, receive, send)


def _build_baseline() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    from django.core.asgi import get_asgi_application

    django_app = get_asgi_application()
    from channels.db import aclose_old_connections
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import re_path

    from spaces.realtime.consumers import SpaceConsumer
    from spaces_project.bus import space_group
    from spaces_project.ws_auth import websocket_stack

    class PerSocketGroupConsumer(SpaceConsumer):
        """Every socket joins the Space's group itself, as in the Channels tutorial."""

        async def subscribe(self) -> None:
            await self.channel_layer.group_add(space_group(self.space_id), self.channel_name)
            self.subscribed = True

        async def unsubscribe(self) -> None:
            if self.subscribed:
                self.subscribed = False
                await self.channel_layer.group_discard(
                    space_group(self.space_id), self.channel_name
                )

        async def dispatch(self, message: dict[str, Any]) -> None:
            await aclose_old_connections()  # what AsyncConsumer.dispatch does per message
            await super().dispatch(message)

    return ProtocolTypeRouter(
        {
            "http": django_app,
            "websocket": websocket_stack(
                URLRouter(
                    [
                        re_path(
                            r"^ws/spaces/(?P<space_id>[0-9]+)/$", PerSocketGroupConsumer.as_asgi()
                        )
                    ]
                )
            ),
        }
    )


baseline_application = _BaselineApplication()


# --- Set-up: database, users, tokens --------------------------------------------------------------


@dataclass
class Fixture:
    space_id: int
    host_token: str
    listener_tokens: list[str]
    # People who post comments (`--kind comment`): present in the Space, not among the listeners.
    poster_tokens: list[str]
    poster_names: list[str]


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def make_fixture(listeners: int, posters: int = 0) -> Fixture:
    """A live Space with its host, `listeners` present listeners and `posters` more present
    listeners who will comment, and a session token each."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from spaces.models import Participant, Space

    run = secrets.token_hex(3)
    password = make_password(None)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(username=f"bench-{run}-{i}", password=password)
                for i in range(listeners + posters + 1)
            ]
        )
        users = list(User.objects.filter(username__startswith=f"bench-{run}-").order_by("pk"))
        host, crowd = users[0], users[1:]
        now = timezone.now()
        space = Space.objects.create(
            host=host,
            title=f"Bench {run}",
            state=Space.State.LIVE,
            started_at=now,
            max_speakers=10,
            max_cohosts=2,
            listener_count=len(crowd),
            peak_listener_count=len(crowd),
            total_joined_count=len(crowd) + 1,
        )
        Participant.objects.bulk_create(
            [
                Participant(
                    space=space,
                    user=u,
                    role=Participant.Role.HOST if u is host else Participant.Role.LISTENER,
                    state=Participant.State.PRESENT,
                    joined_at=now,
                    last_seen_at=now,
                    role_since=now,
                )
                for u in users
            ]
        )
        store = SessionStore()
        sessions = []
        keys = []
        for u in users:
            key = secrets.token_hex(16)
            data = {
                SESSION_KEY: str(u.pk),
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: u.get_session_auth_hash(),
            }
            sessions.append(
                Session(
                    session_key=key,
                    session_data=store.encode(data),
                    expire_date=now + timedelta(days=1),
                )
            )
            keys.append(key)
        Session.objects.bulk_create(sessions)
    return Fixture(
        space.pk,
        keys[0],
        keys[1 : listeners + 1],
        keys[listeners + 1 :],
        [u.username for u in crowd[listeners:]],
    )


# --- Servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def daphnes(
    count: int,
    *,
    layer: str,
    fanout: str,
    env: dict[str, str],
    log_dir: Path,
    cores: str = "",
) -> Iterator[tuple[list[str], list[int]]]:
    app = (
        "bench.room_events:baseline_application"
        if fanout == "group"
        else "spaces_project.asgi:application"
    )
    # One prefix for all the processes of a run (they must hear each other), new for each run.
    prefix = f"bench{os.getpid()}x{secrets.token_hex(3)}"
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    logs = []
    try:
        for index in range(count):
            port = free_port()
            log = open(log_dir / f"daphne-{layer}-{fanout}-{index}.log", "wb")  # noqa: SIM115
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [
                        *(["taskset", "-c", cores] if cores else []),
                        *DAPHNE,
                        *["-b", "127.0.0.1", "-p", str(port), app],
                    ],
                    cwd=ROOT,
                    env={
                        **env,
                        "SPACES_CHANNEL_LAYER": layer,
                        "SPACES_CHANNEL_PREFIX": prefix,
                        "DJANGO_LOG_LEVEL": "WARNING",
                        "SPACES_WS_DIRECT_FRAMES": "1" if fanout in ("hub", "hub-py") else "0",
                        "SPACES_WS_SEND": "python" if fanout == "hub-py" else "auto",
                    },
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"ws://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            _wait_for_port(int(url.rsplit(":", 1)[1]), proc)
        yield urls, [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"daphne did not listen on {port}")


# --- Listener processes -------------------------------------------------------------------------


def listener_process(
    urls: list[str],
    path: str,
    tokens: list[str],
    conn: Connection,
    client: str,
    comments: bool = False,
) -> None:
    """`comments`: record `comment.added` arrivals too (by `seq`, like the host's events)."""
    listen = _listen_picows if client == "picows" else _listen
    asyncio.run(listen(urls, path, tokens, conn, comments))


async def _report(
    conn: Connection, received: list[dict[int, int]], connected: list[bool], errors: list[str]
) -> None:
    """Tell the parent how many connected, wait for the seqs to look for, then report arrivals
    (and which sockets connected, so that the parent counts per listener)."""
    loop = asyncio.get_running_loop()
    conn.send(("ready", sum(connected), errors[:5]))
    expected: list[int] = await loop.run_in_executor(None, conn.recv)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        if all(all(seq in received[i] for seq in expected) for i, ok in enumerate(connected) if ok):
            break
        await asyncio.sleep(0.05)
    results = {seq: [received[i].get(seq) for i in range(len(received))] for seq in expected}
    conn.send(("results", results, connected))


async def _listen(
    urls: list[str], path: str, tokens: list[str], conn: Connection, comments: bool
) -> None:
    """Listeners on `websockets` (pure Python: about as costly per message as the server)."""
    import websockets

    received: list[dict[int, int]] = [{} for _ in tokens]
    sockets: list[Any] = [None] * len(tokens)
    errors: list[str] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    loop = asyncio.get_running_loop()

    async def open_one(i: int) -> None:
        async with gate:
            try:
                ws = await websockets.connect(
                    urls[i % len(urls)] + path,
                    additional_headers={"X-Session-Token": tokens[i]},
                    compression=None,
                    ping_interval=None,
                    max_queue=None,
                    open_timeout=CONNECT_TIMEOUT,
                )
                first = json.loads(await ws.recv())
                if first.get("type") != "space.state":
                    errors.append(str(first)[:200])
                    await ws.close()
                    return
                sockets[i] = ws
            except Exception as exc:
                errors.append(repr(exc)[:200])

    async def read(i: int, ws: Any) -> None:
        mine = received[i]
        with contextlib.suppress(Exception):
            async for text in ws:
                now = time.monotonic_ns()
                if EVENT_TYPE in text or (comments and COMMENT_TYPE in text):
                    mine[json.loads(text)["seq"]] = now

    await asyncio.gather(*(open_one(i) for i in range(len(tokens))))
    readers = [loop.create_task(read(i, ws)) for i, ws in enumerate(sockets) if ws is not None]
    await _report(conn, received, [ws is not None for ws in sockets], errors)
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets if ws is not None), return_exceptions=True)


async def _listen_picows(
    urls: list[str], path: str, tokens: list[str], conn: Connection, comments: bool
) -> None:
    """Listeners on picows (Cython: the frame parsing and the socket loop are compiled), so
    that 1000 clients sharing the server's cores take less of them. Each message is still
    reassembled from its frames, decoded as UTF-8 and, for the measured type, parsed as JSON."""
    from picows import WSListener, WSMsgType, ws_connect

    received: list[dict[int, int]] = [{} for _ in tokens]
    transports: list[Any] = [None] * len(tokens)
    errors: list[str] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    loop = asyncio.get_running_loop()

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self, mine: dict[int, int]) -> None:
            self.mine = mine
            self.first: asyncio.Future[str] = loop.create_future()
            self.parts: list[bytes] = []

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            now = time.monotonic_ns()
            kind = frame.msg_type
            if kind == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if kind not in (WSMsgType.TEXT, WSMsgType.CONTINUATION):
                return  # pings are answered by picows itself
            if not frame.fin or self.parts:
                self.parts.append(frame.get_payload_as_bytes())
                if not frame.fin:
                    return
                text = b"".join(self.parts).decode("utf-8")
                self.parts = []
            else:
                text = frame.get_payload_as_utf8_text()
            if not self.first.done():
                self.first.set_result(text)
            elif EVENT_TYPE in text or (comments and COMMENT_TYPE in text):
                self.mine[json.loads(text)["seq"]] = now

        def on_ws_disconnected(self, transport: Any) -> None:
            if not self.first.done():
                self.first.set_exception(ConnectionError("closed before the snapshot"))

    async def open_one(i: int) -> None:
        async with gate:
            try:
                transport, listener = await ws_connect(
                    lambda: Listener(received[i]),
                    urls[i % len(urls)] + path,
                    extra_headers={"X-Session-Token": tokens[i]},
                    websocket_handshake_timeout=CONNECT_TIMEOUT,
                )
                first = json.loads(await asyncio.wait_for(listener.first, CONNECT_TIMEOUT))
                if first.get("type") != "space.state":
                    errors.append(str(first)[:200])
                    transport.disconnect()
                    return
                transports[i] = transport
            except Exception as exc:
                errors.append(repr(exc)[:200])

    await asyncio.gather(*(open_one(i) for i in range(len(tokens))))
    await _report(conn, received, [t is not None for t in transports], errors)
    for transport in transports:
        if transport is not None:
            transport.send_close()
            transport.disconnect()


# --- One measured run -----------------------------------------------------------------------------


async def _host_acts(
    url: str,
    path: str,
    token: str,
    events: int,
    gap: float,
    warmup: int = 0,
    on_measure: Callable[[], None] | None = None,
) -> tuple[list[tuple[int, int]], list[float]]:
    """The host toggles captions `warmup` + `events` times. Returns (seq, sent_at_ns) per
    measured event, and the milliseconds until the host's own socket had each (the floor:
    service, commit, Redis, one hop back). The first `warmup` events are not measured: they
    also pay for what a server does once, after a crowd connects (first queries, the garbage
    collector's freeze of the new connections, media/gcpolicy.py). `on_measure` is called
    just before the first measured one."""
    import websockets

    sent: list[tuple[int, int]] = []
    own: list[float] = []
    async with websockets.connect(
        url + path, additional_headers={"X-Session-Token": token}, compression=None
    ) as ws:
        state = json.loads(await ws.recv())
        enabled = bool(state["space"]["captions_enabled"])
        for k in range(warmup + events):
            if k == warmup and on_measure is not None:
                on_measure()
            enabled = not enabled
            t0 = time.monotonic_ns()
            await ws.send(json.dumps({"action": "captions", "enabled": enabled, "id": k}))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if message["type"] == EVENT_TYPE:
                    if k >= warmup:
                        own.append((time.monotonic_ns() - t0) / 1e6)
                        sent.append((message["seq"], t0))
                    break
                if message["type"] == "error":
                    raise RuntimeError(f"host action refused: {message}")
            await asyncio.sleep(gap)
    return sent, own


# --- Comments (`--kind comment`) ------------------------------------------------------------------

_PHRASES = [
    "this is such a good point",
    "agree 100%",
    "can you say more about the second part?",
    "greetings from Lisbon!",
    "what do you think about the pricing change",
    "lol",
    "the audio is crystal clear today",
    "I had the same experience last year, it took months to fix",
    "<3",
    "a < b, always",
    "first time here, loving it",
    "could the speaker repeat the name of that library?",
]


def comment_text(rng: random.Random, names: list[str], me: int, used: set[str]) -> str:
    """A plausible comment: a phrase or two, now and then a mention of another poster or a link
    (both parsed by the service: a mention is a database read). Never one this poster sent
    before (`used`): the service takes the same text from the same person within 10 s for a
    double submit and answers with the first comment, which would publish nothing."""
    for _ in range(20):
        text = _comment_text(rng, names, me)
        if text not in used:
            break
    else:
        text = f"{text} ({len(used)})"
    used.add(text)
    return text


def _comment_text(rng: random.Random, names: list[str], me: int) -> str:
    text = rng.choice(_PHRASES)
    roll = rng.random()
    if roll < 0.2 and len(names) > 1:
        other = rng.choice([n for i, n in enumerate(names) if i != me])
        text = f"@{other} {text}"
    elif roll < 0.3:
        text = f"{text} https://example.com/notes/{rng.randrange(1000)}"
    elif roll < 0.6:
        text = f"{text}. {rng.choice(_PHRASES)}"
    return text


@dataclass
class PostLog:
    """What the posters saw, in their own sockets. Request ids are `c<poster>-<k>`."""

    sent: dict[str, int]  # request id -> sent at (monotonic ns)
    acked: dict[str, tuple[int, int]]  # request id -> (comment id, ack at)
    refused: dict[str, str]  # request id -> error code
    seen: dict[int, tuple[int, int]]  # comment id -> (seq, first seen on any poster's socket)
    connected: int


async def _posters_post(
    urls: list[str],
    path: str,
    tokens: list[str],
    names: list[str],
    *,
    seconds: float,
    gap: tuple[float, float],
    seed: int,
    on_measure: Callable[[], None],
) -> PostLog:
    """Every poster opens a socket, then posts one comment every `gap` seconds (uniformly at
    random in the range, the first at a random offset) until `seconds` have passed. A person
    does not wait for the ack before typing the next comment, so sending and reading are
    separate tasks. Returns once every comment sent is acknowledged (or refused) and seen on
    the posters' sockets, or after `DRAIN_TIMEOUT`."""
    import websockets

    log = PostLog({}, {}, {}, {}, 0)
    sockets: list[Any] = []
    for i, token in enumerate(tokens):
        ws = await websockets.connect(
            urls[i % len(urls)] + path,
            additional_headers={"X-Session-Token": token},
            compression=None,
            max_queue=None,
            open_timeout=CONNECT_TIMEOUT,
        )
        first = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT))
        if first.get("type") != "space.state":
            raise RuntimeError(f"a poster could not open its socket: {str(first)[:200]}")
        sockets.append(ws)
    log.connected = len(sockets)

    async def read(ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for text in ws:
                now = time.monotonic_ns()
                message = json.loads(text)
                kind = message.get("type")
                if kind == COMMENT_TYPE:
                    comment_id = message["comment"]["id"]
                    if comment_id not in log.seen:
                        log.seen[comment_id] = (message["seq"], now)
                elif kind == "ack" and message.get("action") == "comment":
                    log.acked[message["id"]] = (message["comment_id"], now)
                elif kind == "error" and str(message.get("id", "")).startswith("c"):
                    log.refused[message["id"]] = message.get("code", "?")

    most = int(seconds / gap[0]) + 1  # a bound on each poster's comments, whatever the clock

    async def post(i: int, ws: Any, end: float) -> None:
        rng = random.Random(seed * 1000 + i)
        used: set[str] = set()
        await asyncio.sleep(rng.uniform(0, gap[1]))
        for k in range(most):
            if time.monotonic() >= end:
                return
            rid = f"c{i}-{k}"
            payload = json.dumps(
                {"action": "comment", "text": comment_text(rng, names, i, used), "id": rid}
            )
            log.sent[rid] = time.monotonic_ns()
            await ws.send(payload)
            # The last pause ends with the window: the phase's CPU is not diluted by idling.
            await asyncio.sleep(min(rng.uniform(*gap), max(0.0, end - time.monotonic())))

    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    try:
        on_measure()
        end = time.monotonic() + seconds
        await asyncio.gather(*(post(i, ws, end) for i, ws in enumerate(sockets)))
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            answered = all(rid in log.acked or rid in log.refused for rid in log.sent)
            if answered and all(cid in log.seen for cid, _ in log.acked.values()):
                break
            await asyncio.sleep(0.05)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return log


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def schedstat(pids: list[int]) -> tuple[int, int]:
    """(ns on a CPU, ns runnable but waiting for one) summed over every thread of `pids`."""
    on_cpu = waiting = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                fields = (task / "schedstat").read_text().split()
                on_cpu += int(fields[0])
                waiting += int(fields[1])
    return on_cpu, waiting


@dataclass(frozen=True)
class CommentPlan:
    """The comment phase of `--kind comment`."""

    posters: int
    seconds: float
    gap: tuple[float, float]
    rate: str  # SPACES_COMMENT_RATE for the servers
    seed: int
    idle_seconds: float = 2.0  # the servers' CPU with nothing happening, measured before it


def run_one(
    urls: list[str],
    pids: list[int],
    fixture: Fixture,
    *,
    listeners: int,
    events: int,
    gap: float,
    warmup: int,
    client_procs: int,
    client: str,
    layer: str,
    fanout: str,
    comments: CommentPlan | None = None,
) -> dict[str, Any]:
    path = f"/ws/spaces/{fixture.space_id}/"
    tokens = fixture.listener_tokens[:listeners]
    chunks = [tokens[i::client_procs] for i in range(client_procs)]
    # Listener i of a chunk goes to server (i % servers): spread the chunk's offset too.
    ctx = multiprocessing.get_context("spawn")
    pipes, procs = [], []
    started = time.monotonic()
    for index, chunk in enumerate(chunks):
        parent, child = ctx.Pipe()
        rotated = urls[index % len(urls) :] + urls[: index % len(urls)]
        proc = ctx.Process(
            target=listener_process,
            args=(rotated, path, chunk, child, client, comments is not None),
            daemon=True,
        )
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    try:
        return _measure(
            pipes,
            procs,
            urls,
            pids,
            path,
            fixture,
            started,
            listeners=listeners,
            events=events,
            gap=gap,
            warmup=warmup,
            client=client,
            layer=layer,
            fanout=fanout,
            comments=comments,
        )
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()


def _measure(
    pipes: list[Connection],
    procs: list[Any],
    urls: list[str],
    pids: list[int],
    path: str,
    fixture: Fixture,
    started: float,
    *,
    listeners: int,
    events: int,
    gap: float,
    warmup: int,
    client: str,
    layer: str,
    fanout: str,
    comments: CommentPlan | None = None,
) -> dict[str, Any]:
    connected, errors = 0, []
    for pipe in pipes:
        if not pipe.poll(CONNECT_TIMEOUT * 2):
            raise TimeoutError("listeners did not connect in time")
        _, ok, errs = pipe.recv()
        connected += ok
        errors += errs
    connect_seconds = time.monotonic() - started
    client_pids = [proc.pid for proc in procs]
    start: list[int] = []

    def on_measure() -> None:
        start.extend([*schedstat(pids), schedstat(client_pids)[0]])

    sent, host_ms = asyncio.run(
        _host_acts(urls[0], path, fixture.host_token, events, gap, warmup, on_measure)
    )
    cpu1, wait1 = schedstat(pids)
    client1, _ = schedstat(client_pids)
    cpu0, wait0, client0 = start
    seqs = [seq for seq, _ in sent]
    phase: CommentPhase | None = None
    if comments is not None:
        phase = _comment_phase(urls, pids, client_pids, path, fixture, comments)
        seqs += phase.seqs()
    for pipe in pipes:
        pipe.send(seqs)
    arrivals: dict[int, list[int | None]] = {seq: [] for seq in seqs}
    sockets_up: list[bool] = []  # per listener, in the order of `arrivals`' lists
    for pipe in pipes:
        if not pipe.poll(DRAIN_TIMEOUT + 60):
            raise TimeoutError("listeners did not report")
        _, results, up = pipe.recv()
        sockets_up += up
        for seq, times in results.items():
            arrivals[seq].extend(times)

    last_ms, every_ms = [], []
    delivered = 0
    for seq, t0 in sent:
        times = [t for t in arrivals[seq] if t is not None]
        delivered += len(times)
        every_ms += [(t - t0) / 1e6 for t in times]
        if times:
            last_ms.append((max(times) - t0) / 1e6)
    # Over the sockets that connected: a failed connect is reported apart, not as a lost event.
    expected = connected * len(sent)
    result = {
        "layer": layer,
        "fanout": fanout,
        "client": client,
        "servers": len(urls),
        "listeners": listeners,
        "connected": connected,
        "events": len(sent),
        "p50_ms": round(percentile(last_ms, 50), 1),
        "p95_ms": round(percentile(last_ms, 95), 1),
        "p99_ms": round(percentile(last_ms, 99), 1),
        "max_ms": round(max(last_ms, default=float("nan")), 1),
        "delivery_p50_ms": round(percentile(every_ms, 50), 1),
        "delivery_p95_ms": round(percentile(every_ms, 95), 1),
        "delivery_p99_ms": round(percentile(every_ms, 99), 1),
        "delivered_ratio": round(delivered / expected, 5) if expected else 0.0,
        "host_event_p50_ms": round(percentile(host_ms, 50), 1),
        # Server CPU per delivered event copy, and how long the servers were runnable but
        # waiting for a core (other processes on this box): contention, not our cost.
        "server_cpu_us_per_delivery": round((cpu1 - cpu0) / 1e3 / max(1, delivered), 1),
        "server_runqueue_wait_share": round(
            (wait1 - wait0) / max(1, cpu1 - cpu0 + wait1 - wait0), 3
        ),
        # The listeners' own CPU per event copy: on this box they share the servers' cores.
        "client_cpu_us_per_delivery": round((client1 - client0) / 1e3 / max(1, delivered), 1),
        "connect_seconds": round(connect_seconds, 1),
        "connect_errors": errors[:3],
    }
    if phase is not None:
        result["comment"] = phase.figures(arrivals, sockets_up)
    return result


@dataclass
class CommentPhase:
    plan: CommentPlan
    log: PostLog
    cpu: tuple[int, int]  # server (ns on a CPU, ns waiting) over the phase
    client_cpu: int
    idle_cpu: int  # server ns on a CPU over `plan.idle_seconds` before it

    def measured(self) -> list[tuple[int, int, int]]:
        """(seq, sent at, acked at) of every comment acknowledged and seen. An ack naming a
        comment already acknowledged (the service took it for a double submit) is not another
        comment: `repeats` counts those, and they are left out."""
        out = {}
        for rid, (comment_id, acked_at) in self.log.acked.items():
            if comment_id in self.log.seen and comment_id not in out:
                out[comment_id] = (self.log.seen[comment_id][0], self.log.sent[rid], acked_at)
        return sorted(out.values())

    def repeats(self) -> int:
        return len(self.log.acked) - len({cid for cid, _ in self.log.acked.values()})

    def seqs(self) -> list[int]:
        return [seq for seq, _, _ in self.measured()]

    def figures(
        self, arrivals: dict[int, list[int | None]], sockets_up: list[bool]
    ) -> dict[str, Any]:
        log, plan = self.log, self.plan
        comments = self.measured()
        last_ms: list[float] = []
        every_ms: list[float] = []
        own_ms: list[float] = []
        ack_ms: list[float] = []
        per_listener = [0] * len(sockets_up)
        for seq, t0, acked_at in comments:
            times = arrivals[seq]
            for i, t in enumerate(times):
                if t is not None:
                    per_listener[i] += 1
                    every_ms.append((t - t0) / 1e6)
            got = [t for t in times if t is not None]
            if got:
                last_ms.append((max(got) - t0) / 1e6)
            ack_ms.append((acked_at - t0) / 1e6)
        firsts: set[int] = set()
        for rid, (comment_id, _) in log.acked.items():
            if comment_id in log.seen and comment_id not in firsts:
                firsts.add(comment_id)
                own_ms.append((log.seen[comment_id][1] - log.sent[rid]) / 1e6)
        counts = [n for n, up in zip(per_listener, sockets_up, strict=True) if up]
        delivered = sum(counts)
        expected = len(counts) * len(comments)
        cpu_ns, wait_ns = self.cpu
        refused: dict[str, int] = {}
        for code in log.refused.values():
            refused[code] = refused.get(code, 0) + 1

        def ms(values: list[float], q: float) -> float:
            return round(percentile(values, q), 1)

        return {
            "posters": plan.posters,
            "posters_connected": log.connected,
            "seconds": plan.seconds,
            "gap_s": list(plan.gap),
            "comment_rate": plan.rate,
            # Every comment sent, its answer, and whether it went out as an event.
            "posted": len(log.sent),
            "acked": len(log.acked),
            "refused": refused,
            "unanswered": sum(1 for r in log.sent if r not in log.acked and r not in log.refused),
            "repeats": self.repeats(),
            "measured": len(comments),
            "posted_per_s": round(len(log.sent) / plan.seconds, 2),
            # From the post being sent to the last listener having it, per comment.
            "p50_ms": ms(last_ms, 50),
            "p95_ms": ms(last_ms, 95),
            "p99_ms": ms(last_ms, 99),
            "max_ms": round(max(last_ms, default=float("nan")), 1),
            # Over every (listener, comment) pair.
            "delivery_p50_ms": ms(every_ms, 50),
            "delivery_p95_ms": ms(every_ms, 95),
            "delivery_p99_ms": ms(every_ms, 99),
            "delivery_max_ms": round(max(every_ms, default=float("nan")), 1),
            # The poster's own ack and own copy of the event (the service and one hop back).
            "ack_p50_ms": ms(ack_ms, 50),
            "ack_p99_ms": ms(ack_ms, 99),
            "poster_event_p50_ms": ms(own_ms, 50),
            # Nothing lost: every connected listener had every acknowledged comment.
            "delivered": delivered,
            "expected": expected,
            "delivered_ratio": round(delivered / expected, 5) if expected else 0.0,
            "lost": expected - delivered,
            "listeners_complete": sum(1 for n in counts if n == len(comments)),
            "per_listener_min": min(counts, default=0),
            "per_listener_max": max(counts, default=0),
            "server_cpu_us_per_delivery": round(cpu_ns / 1e3 / max(1, delivered), 1),
            "server_runqueue_wait_share": round(wait_ns / max(1, cpu_ns + wait_ns), 3),
            "server_idle_cpu_share": round(self.idle_cpu / (plan.idle_seconds * 1e9), 4),
            "client_cpu_us_per_delivery": round(self.client_cpu / 1e3 / max(1, delivered), 1),
        }


def _comment_phase(
    urls: list[str],
    pids: list[int],
    client_pids: list[int],
    path: str,
    fixture: Fixture,
    plan: CommentPlan,
) -> CommentPhase:
    """After the host's actions, on the same servers and listener sockets: the servers idle
    for `plan.idle_seconds` (measured), then the posters comment for `plan.seconds`."""
    idle0, _ = schedstat(pids)
    time.sleep(plan.idle_seconds)
    idle1, _ = schedstat(pids)
    start: list[int] = []

    def on_measure() -> None:
        start.extend([*schedstat(pids), schedstat(client_pids)[0]])

    log = asyncio.run(
        _posters_post(
            urls,
            path,
            fixture.poster_tokens[: plan.posters],
            fixture.poster_names[: plan.posters],
            seconds=plan.seconds,
            gap=plan.gap,
            seed=plan.seed,
            on_measure=on_measure,
        )
    )
    cpu1, wait1 = schedstat(pids)
    client1, _ = schedstat(client_pids)
    cpu0, wait0, client0 = start
    return CommentPhase(plan, log, (cpu1 - cpu0, wait1 - wait0), client1 - client0, idle1 - idle0)


# --- Main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--layers", nargs="+", default=["core", "pubsub"])
    parser.add_argument(
        "--fanouts", nargs="+", default=["hub"], choices=["hub", "hub-py", "hub-asgi", "group"]
    )
    parser.add_argument("--events", type=int, default=40, help="host actions per run")
    parser.add_argument(
        "--warmup", type=int, default=3, help="unmeasured host actions before the measured ones"
    )
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between host actions")
    parser.add_argument(
        "--servers", type=int, nargs="+", default=[1], help="daphne processes (one run each)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat every variant, interleaved")
    parser.add_argument(
        "--clients",
        nargs="+",
        default=["picows"],
        choices=["picows", "websockets"],
        help="the listeners' WebSocket library (each a run of its own, same servers)",
    )
    parser.add_argument("--client-procs", type=int, default=2, help="listener processes")
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    )
    parser.add_argument("--log-dir", default="", help="keep the daphne logs here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--kind",
        choices=["host", "comment"],
        default="host",
        help="host: the host's actions only; comment: then, on the same sockets, comments",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="servers on core 0; this process, the listeners and the posters on the others",
    )
    parser.add_argument("--posters", type=int, default=20, help="people commenting (comment)")
    parser.add_argument(
        "--comment-seconds", type=float, default=30.0, help="how long they comment (comment)"
    )
    parser.add_argument(
        "--comment-gap",
        type=float,
        nargs=2,
        default=[1.0, 2.0],
        metavar=("MIN", "MAX"),
        help="seconds between one poster's comments, uniformly at random (comment)",
    )
    parser.add_argument(
        "--comment-rate",
        default="120/min",
        help="SPACES_COMMENT_RATE for the servers (the product's default is 10/min)",
    )
    args = parser.parse_args()
    if (
        max(args.listeners) > 5000
        or args.events > 500
        or max(args.servers) > 8
        or args.rounds * len(args.layers) * len(args.fanouts) * len(args.servers) > 40
        or not 0 < args.posters <= 200
        or not 0 < args.comment_seconds <= 300
        or not 0.1 <= args.comment_gap[0] <= args.comment_gap[1] <= 60
    ):
        parser.error(
            "bounded: at most 5000 listeners, 500 events, 8 servers, 40 server starts, "
            "1-200 posters for 0-300 s, 0.1 <= gap MIN <= MAX <= 60 s"
        )

    with tempfile.TemporaryDirectory(prefix="room-events-") as tmp:
        database_url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "spaces_project.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "CELERY_BROKER_URL": args.redis_url,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The host acts faster than a person would; the limit is not what is measured.
            "SPACES_WS_RATE": "1000",
            "SPACES_WS_BURST": "1000",
            "PYTHONUNBUFFERED": "1",
        }
        if args.kind == "comment":
            # The posters' pace (up to one a second each) is above the product's flood limit
            # for comments (10/min); slow mode stays off, its default.
            env["SPACES_COMMENT_RATE"] = args.comment_rate
        os.environ.update(env)
        migrate(env)
        import django

        django.setup()
        fixture = make_fixture(max(args.listeners), args.posters if args.kind == "comment" else 0)
        from django.db import connections

        connections.close_all()
        results: list[dict[str, Any]] = []
        log_dir = Path(args.log_dir or tmp)
        log_dir.mkdir(parents=True, exist_ok=True)
        if args.pin:
            # The listener processes are spawned from here and inherit this mask.
            os.sched_setaffinity(0, set(range(1, os.cpu_count() or 2)))
        variants = [
            (layer, fanout, servers)
            for layer in args.layers
            for fanout in args.fanouts
            for servers in args.servers
        ]
        for round_ in range(args.rounds):
            for layer, fanout, servers in variants:
                with daphnes(
                    servers,
                    layer=layer,
                    fanout=fanout,
                    env=env,
                    log_dir=log_dir,
                    cores="0" if args.pin else "",
                ) as (
                    urls,
                    pids,
                ):
                    for listeners in args.listeners:
                        for client in args.clients:
                            result = run_one(
                                urls,
                                pids,
                                fixture,
                                listeners=listeners,
                                events=args.events,
                                gap=args.gap,
                                warmup=args.warmup,
                                client_procs=args.client_procs,
                                client=client,
                                layer=layer,
                                fanout=fanout,
                                comments=CommentPlan(
                                    posters=args.posters,
                                    seconds=args.comment_seconds,
                                    gap=(args.comment_gap[0], args.comment_gap[1]),
                                    rate=args.comment_rate,
                                    seed=len(results),
                                )
                                if args.kind == "comment"
                                else None,
                            )
                            result["round"] = round_
                            results.append(result)
                            if not args.json:
                                print(_row(result), flush=True)
                                if "comment" in result:
                                    print(_comment_row(result["comment"]), flush=True)
        if args.rounds > 1 and not args.json:
            print(_summary(results), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


def _summary(results: list[dict[str, Any]]) -> str:
    """Per variant, the median over the rounds of each figure."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in results:
        key = (r["layer"], r["fanout"], r["servers"], r["listeners"], r["client"])
        groups.setdefault(key, []).append(r)
    lines = ["medians over the rounds:"]
    for (layer, fanout, servers, listeners, client), rs in groups.items():
        med = {
            key: percentile([float(r[key]) for r in rs], 50)
            for key in ("p50_ms", "p99_ms", "delivered_ratio", "server_cpu_us_per_delivery")
        }
        lines.append(
            f"{layer:>6} {fanout:>8} servers={servers} N={listeners:>5} {client:>10} "
            f"p50={med['p50_ms']:.1f} ms p99={med['p99_ms']:.1f} ms "
            f"delivered={med['delivered_ratio']:.4f} "
            f"server {med['server_cpu_us_per_delivery']:.0f} us/delivery ({len(rs)} rounds)"
        )
        if all("comment" in r for r in rs):
            cmed = {
                key: percentile([float(r["comment"][key]) for r in rs], 50)
                for key in ("p50_ms", "p99_ms", "delivered_ratio", "server_cpu_us_per_delivery")
            }
            lines.append(
                f"{'':>6} {'comments':>8} p50={cmed['p50_ms']:.1f} ms p99={cmed['p99_ms']:.1f} ms "
                f"delivered={cmed['delivered_ratio']:.4f} "
                f"server {cmed['server_cpu_us_per_delivery']:.0f} us/delivery"
            )
    return "\n".join(lines)


def _row(r: dict[str, Any]) -> str:
    return (
        f"{r['layer']:>6} {r['fanout']:>8} servers={r['servers']} N={r['listeners']:>5} "
        f"{r['client']:>10} host-own p50={r['host_event_p50_ms']:>5.1f} ms "
        f"events={r['events']:>3} last-listener p50={r['p50_ms']:>7.1f} ms "
        f"p99={r['p99_ms']:>7.1f} ms max={r['max_ms']:>7.1f} ms | per-delivery "
        f"p50={r['delivery_p50_ms']:>6.1f} p99={r['delivery_p99_ms']:>6.1f} ms | "
        f"delivered={r['delivered_ratio']:.4f} connected={r['connected']} "
        f"server {r['server_cpu_us_per_delivery']} us/delivery, "
        f"runqueue wait {r['server_runqueue_wait_share']:.0%}, "
        f"clients {r['client_cpu_us_per_delivery']} us/delivery | "
        f"in {r['connect_seconds']}s"
    )


def _comment_row(c: dict[str, Any]) -> str:
    return (
        f"{'':>6} comments posters={c['posters']} posted={c['posted']} acked={c['acked']} "
        f"refused={c['refused']} ({c['posted_per_s']}/s) last-listener p50={c['p50_ms']:>7.1f} "
        f"p95={c['p95_ms']:>7.1f} p99={c['p99_ms']:>7.1f} max={c['max_ms']:>7.1f} ms | "
        f"per-delivery p50={c['delivery_p50_ms']:>6.1f} p99={c['delivery_p99_ms']:>6.1f} ms | "
        f"delivered={c['delivered_ratio']:.4f} lost={c['lost']} "
        f"per listener {c['per_listener_min']}-{c['per_listener_max']} of {c['measured']} | "
        f"server {c['server_cpu_us_per_delivery']} us/delivery, "
        f"runqueue wait {c['server_runqueue_wait_share']:.0%}, "
        f"idle {c['server_idle_cpu_share']:.1%} of a core, "
        f"clients {c['client_cpu_us_per_delivery']} us/delivery"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
