"""The fan-out loop alone: CPU per listener packet of each kernel, without the rest of a worker.

    python -m bench.fanout_kernel --listeners 1500 --ticks 500 --json

N peers with real SRTP sessions, each sending from its own UDP socket on 127.0.0.1 (as each
peer's ICE socket does in the worker) to a receiving socket of its own. For each kernel the
thread CPU time (user + system, which on loopback includes the kernel delivering the datagram
into the receiver's queue) spent inside ``fan_out`` is divided by the packets sent; the
receivers are drained between ticks, outside the measured time.

``shared_socket`` repeats the compiled kernel with every peer sending from ONE socket: the
loop then hands the kernel ``sendmmsg`` batches of 64 datagrams instead of one ``sendmsg`` per
peer. The worker cannot do that today (each ICE connection has its own socket, and a browser
only accepts media from the nominated pair's address, see bench/RESULTS.md); the figure says
what a single-port ICE design would buy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from pylibsrtp import Policy, Session

from media import fanout
from media.fanout import AUDIO_LEVEL_URI, MID_URI, Outbound, OutboundList, fan_out

PAYLOAD = b"\xfc" + bytes(range(79))  # an 80-byte Opus packet, about 32 kb/s


class FakeTransport:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def get_extra_info(self, name: str) -> Any:
        return self._sock if name == "socket" else None


def make_peers(n: int) -> tuple[list[Outbound], list[socket.socket], list[socket.socket]]:
    params = RTCRtpSendParameters(
        codecs=[RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111)],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
            RTCRtpHeaderExtensionParameters(id=2, uri=AUDIO_LEVEL_URI),
        ],
        muxId="0",
        rtcp=RTCRtcpParameters(cname="bench"),
    )
    outs, senders, receivers = [], [], []
    for i in range(n):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 0))
        out = Outbound(ssrc=i + 1)
        session = Session(Policy(key=os.urandom(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        out.configure(
            params,
            srtp=session,
            transport=FakeTransport(sender),  # type: ignore[arg-type]
            addr=receiver.getsockname(),
        )
        outs.append(out)
        senders.append(sender)
        receivers.append(receiver)
    return outs, senders, receivers


def drain(receivers: list[socket.socket]) -> int:
    got = 0
    for r in receivers:
        while True:
            try:
                r.recv(2048)
            except BlockingIOError:
                break
            got += 1
    return got


def run(
    kernel: str, outs: OutboundList, receivers: list[socket.socket], ticks: int, first: int
) -> dict[str, Any]:
    """``ticks`` ticks from index ``first``: SRTP refuses to protect an index twice."""
    fanout.select_kernel(kernel)
    cpu = 0.0
    sent = dropped = 0
    received = 0
    for index in range(first, first + ticks):
        started = time.thread_time()
        s, d = fan_out(outs, index, index * 960, PAYLOAD, 30)
        cpu += time.thread_time() - started
        sent += s
        dropped += d
        received += drain(receivers)
    return {
        "kernel": kernel,
        "us_per_packet": round(cpu / max(sent, 1) * 1e6, 2),
        "sent": sent,
        "dropped": dropped,
        "received": received,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=1500)
    parser.add_argument("--ticks", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.listeners <= 5000 or not 1 <= args.ticks <= 10_000:
        parser.error("--listeners in 1..5000, --ticks in 1..10000")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.listeners)), hard))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    outs, senders, receivers = make_peers(args.listeners)
    listeners = OutboundList(outs)
    rows = [run("python", listeners, receivers, args.ticks, 0)]
    if fanout.select_kernel("auto") == "compiled":
        rows.append(run("compiled", listeners, receivers, args.ticks, args.ticks))
        shared = senders[0].fileno()
        for out in outs:
            out.kp.fd = shared  # every peer on one socket: sendmmsg batches of 64
        row = run("compiled", listeners, receivers, args.ticks, 2 * args.ticks)
        row["kernel"] = "compiled, shared_socket"
        rows.append(row)
    for out in outs:
        out.close()
    for s in senders + receivers:
        s.close()
    result = {
        "benchmark": "fanout_kernel",
        "listeners": args.listeners,
        "ticks": args.ticks,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "results": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for row in rows:
            print(f"{row['kernel']:>24}: {row['us_per_packet']} us/packet  sent {row['sent']}")
    return result


if __name__ == "__main__":
    main()
