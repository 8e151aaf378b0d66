"""Server CPU per WebSocket frame, one text frame to each of N sockets, by write path and server.

No Django, no Channels, no Redis: a trivial ASGI app (`bench.ws_frames:app`) that, when the
trigger socket says `go:<mode>:<k>`, sends one ~200-byte text frame to every open socket, then
`done` to the trigger. The server's own CPU time (`/proc/<pid>/task/*/schedstat`) over K such
rounds, divided by the frames written, is the figure: the floor under bench/room_events.py.
Modes (Daphne unless said):
- `asgi`: the ASGI `send` of each socket (what any consumer does; works under any server);
- `prepared`: autobahn's `prepareMessage` once, `sendPreparedMessage` per socket;
- `transport`: the prepared bytes to each socket's Twisted `transport.write`;
- `direct`: what the project does (spaces/realtime/wsframes.py): every socket Twisted holds
  nothing for is taken by the event's `Frame`, then one compiled call (`send_same`, Python's lock
  released) sends the bytes to all of them; the rest go to `transport.write`;
- `direct-py`: the same with the Python sender (one `socket.send` call per socket), the
  fallback where the kernel is not built.
`--uvicorn PYTHON` adds uvicorn runs (`asgi` mode only) with the Python of an environment that has
uvicorn installed (not a project dependency), e.g. `--uvicorn /tmp/uv/bin/python`.

    .venv/bin/python bench/ws_frames.py --sockets 1000 --rounds 2
    .venv/bin/python bench/ws_frames.py --modes asgi direct --uvicorn /tmp/uv/bin/python

Loopback only; bounded (at most 5000 sockets, 200 frames per socket, 10 rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEXT = '{"type":"captions.toggled","seq":%d,"space_id":1,"enabled":true,"pad":"' + "x" * 120 + '"}'

# --- The app (runs inside the server under test) -----------------------------------------------

_SOCKETS: list[tuple[Any, Any]] = []  # (ASGI send, Daphne protocol or None)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    protocol = send.args[0] if isinstance(send, functools.partial) else None
    entry = (send, protocol)
    _SOCKETS.append(entry)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") or ""
            if text.startswith("go:"):
                _, mode, k = text.split(":")
                await _fan_out(mode, TEXT % int(k))
                await send({"type": "websocket.send", "text": "done"})
    finally:
        _SOCKETS.remove(entry)


async def _fan_out(mode: str, text: str) -> None:
    if mode == "asgi":
        for send, _ in list(_SOCKETS):
            await send({"type": "websocket.send", "text": text})
        return
    from autobahn.websocket.protocol import PreparedMessage
    from twisted.internet.tcp import Server as TCPServer

    from spaces.realtime import wsframes

    prepared = PreparedMessage(text.encode(), False, False, True)
    frame = bytes(prepared.payloadHybi)
    if mode in ("direct", "direct-py"):
        wanted = "compiled" if mode == "direct" else "python"
        if wsframes.sender != wanted:
            wsframes.select_sender(wanted)
        shared = wsframes.Frame(text)
        for _, protocol in list(_SOCKETS):
            wsframes.transport_write(protocol.transport, shared, TCPServer)
        shared.send()
        return
    for _, protocol in list(_SOCKETS):
        if mode == "prepared":
            protocol.sendPreparedMessage(prepared)
        else:
            protocol.transport.write(frame)


# --- The driver ----------------------------------------------------------------------------------


def clients(url: str, count: int, conn: Connection) -> None:
    asyncio.run(_clients(url, count, conn))


async def _clients(url: str, count: int, conn: Connection) -> None:
    import websockets

    got = [0] * count
    sockets: list[Any] = []
    gate = asyncio.Semaphore(32)
    loop = asyncio.get_running_loop()
    readers = []

    async def read(i: int, ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for _ in ws:
                got[i] += 1

    async def open_one(i: int) -> None:
        async with gate:
            ws = await websockets.connect(
                url, compression=None, ping_interval=None, max_queue=None, open_timeout=60
            )
            sockets.append(ws)
            readers.append(loop.create_task(read(i, ws)))

    await asyncio.gather(*(open_one(i) for i in range(count)))
    conn.send("ready")
    await loop.run_in_executor(None, conn.recv)
    await asyncio.sleep(1.0)
    conn.send(sum(got))
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(server: str, mode: str, *, sockets: int, frames: int, uvicorn: str) -> dict[str, Any]:
    port = _free_port()
    if server == "daphne":
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    else:
        cmd = [uvicorn, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--loop", server.split("-", 1)[1], "--ws", "websockets", "--log-level", "warning"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "spaces_project.settings"}
    proc = subprocess.Popen(
        [*cmd, "bench.ws_frames:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    pipes: list[Connection] = []
    workers: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{server} exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{server} did not listen") from None
                time.sleep(0.1)
        url = f"ws://127.0.0.1:{port}/"
        ctx = multiprocessing.get_context("spawn")
        for share in (sockets // 2, sockets - sockets // 2):
            parent, child = ctx.Pipe()
            worker = ctx.Process(target=clients, args=(url, share, child), daemon=True)
            worker.start()
            pipes.append(parent)
            workers.append(worker)
        for pipe in pipes:
            if not pipe.poll(180) or pipe.recv() != "ready":
                raise TimeoutError("clients did not connect")
        cpu, wait = asyncio.run(_trigger(url, proc.pid, mode, frames))
        for pipe in pipes:
            pipe.send("report")
        got = sum(pipe.recv() for pipe in pipes if pipe.poll(60))
        written = (sockets + 1) * frames  # the trigger socket gets each frame too
        return {
            "server": server,
            "mode": mode,
            "sockets": sockets,
            "server_cpu_us_per_frame": round(cpu / 1e3 / written, 1),
            "server_runqueue_wait_share": round(wait / max(1, cpu + wait), 3),
            "delivered_ratio": round(got / (sockets * frames), 5),
        }
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _trigger(url: str, pid: int, mode: str, frames: int) -> tuple[int, int]:
    import websockets

    from bench.room_events import schedstat

    async with websockets.connect(url, compression=None, max_queue=None) as ws:
        await asyncio.sleep(0.5)
        cpu0, wait0 = schedstat([pid])
        for k in range(frames):
            await ws.send(f"go:{mode}:{k}")
            while await asyncio.wait_for(ws.recv(), 60) != "done":
                pass
            await asyncio.sleep(0.05)
        cpu1, wait1 = schedstat([pid])
    return cpu1 - cpu0, wait1 - wait0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=15, help="frames per socket per run")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["asgi", "prepared", "transport", "direct-py", "direct"],
        choices=["asgi", "prepared", "transport", "direct-py", "direct"],
    )
    parser.add_argument("--uvicorn", default="", help="a Python with uvicorn and uvloop")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every variant, interleaved")
    args = parser.parse_args()
    if args.sockets > 5000 or args.frames > 200 or args.rounds > 10:
        parser.error("bounded: at most 5000 sockets, 200 frames, 10 rounds")
    variants = [("daphne", mode) for mode in args.modes]
    if args.uvicorn:
        variants += [("uvicorn-uvloop", "asgi"), ("uvicorn-asyncio", "asgi")]
    for _ in range(args.rounds):
        for server, mode in variants:
            result = run(
                server, mode, sockets=args.sockets, frames=args.frames, uvicorn=args.uvicorn
            )
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
