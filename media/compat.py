"""The private aiortc / aioice pieces the direct forwarding path relies on, checked in one place.

aiortc has no public API to hand one encoded packet to many peers. The fan-out therefore takes,
from each negotiated peer: the sender's SSRC (``RTCRtpSender._ssrc``, also what the answer SDP
announces), the negotiated send parameters (by standing in for ``RTCRtpSender.send``), the DTLS
transport's outbound SRTP session (``RTCDtlsTransport._tx_srtp``) and the nominated ICE pair's
datagram transport (``aioice.Connection._nominated``). It gates incoming RTP by standing in for
``RTCRtpReceiver._handle_rtp_packet``; for the packets the origin decodes itself (loss
protection) it feeds the receiver's RTCP statistics, and it reads listeners' receiver reports
through the sender's RTCP handler. These names are private, so the versions are pinned
(requirements.txt) and ``check_aiortc_internals`` fails loudly at worker start if they move.
"""

from __future__ import annotations

import inspect

import aioice
import aiortc
from aioice import ice
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

PINNED_AIORTC = "1.16.0"


class AiortcInternalsChanged(RuntimeError):
    """aiortc or aioice no longer has a private piece the media worker uses."""


def _params(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


def check_aiortc_internals() -> None:
    """Raise AiortcInternalsChanged if any private piece the fan-out needs has moved."""
    problems: list[str] = []
    version = getattr(aiortc, "__version__", "?")
    if version != PINNED_AIORTC:
        problems.append(
            f"aiortc is {version}, the media worker was checked against {PINNED_AIORTC}"
        )

    expectations: list[tuple[str, bool]] = [
        ("RTCRtpSender.send(parameters)", _params(RTCRtpSender.send) == ["self", "parameters"]),
        (
            "RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms)",
            _params(RTCRtpReceiver._handle_rtp_packet) == ["self", "packet", "arrival_time_ms"],
        ),
        ("RTCDtlsTransport._tx_srtp", "self._tx_srtp" in inspect.getsource(RTCDtlsTransport)),
        ("RTCDtlsTransport.transport", isinstance(RTCDtlsTransport.transport, property)),
        ("RTCIceTransport._connection", "self._connection" in inspect.getsource(RTCIceTransport)),
        ("RTCIceGatherer._connection", "self._connection" in inspect.getsource(RTCIceGatherer)),
        ("RTCRtpSender._ssrc", "self._ssrc" in inspect.getsource(RTCRtpSender.__init__)),
        ("aioice Connection._nominated", "self._nominated" in inspect.getsource(ice.Connection)),
        ("aioice Connection.stun_server", "self.stun_server" in inspect.getsource(ice.Connection)),
        ("aioice CandidatePair.protocol", "self.protocol" in inspect.getsource(ice.CandidatePair)),
        ("aioice CandidatePair.remote_addr", hasattr(ice.CandidatePair, "remote_addr")),
        ("aioice.ice.get_host_addresses", callable(getattr(ice, "get_host_addresses", None))),
        (
            "RTCIceGatherer falls back to default servers only when iceServers is None",
            "if iceServers is None:" in inspect.getsource(RTCIceGatherer.__init__),
        ),
        ("RTCPeerConnection.addTransceiver", hasattr(RTCPeerConnection, "addTransceiver")),
        # RED is added to the negotiated codecs, from which the answer is written (media.peer).
        ("RTCRtpTransceiver._codecs", "self._codecs" in inspect.getsource(RTCRtpTransceiver)),
        # Receiver reports for the packets the origin decodes itself (media.peer).
        *(
            (f"RTCRtpReceiver.{name}", f"self.{name}" in inspect.getsource(RTCRtpReceiver))
            for name in ("__remote_streams", "__codecs", "__active_ssrc")
        ),
        ("aiortc.rtcrtpreceiver.StreamStatistics.add", hasattr(StreamStatistics, "add")),
        # The origin's FEC follows listeners' RTCP reports (media.peer).
        (
            "RTCDtlsTransport._register_rtp_sender",
            callable(getattr(RTCDtlsTransport, "_register_rtp_sender", None)),
        ),
        (
            "RTCRtpSender._handle_rtcp_packet",
            callable(getattr(RTCRtpSender, "_handle_rtcp_packet", None)),
        ),
        ("aioice version", bool(getattr(aioice, "__version__", ""))),
    ]
    problems += [name for name, ok in expectations if not ok]
    if problems:
        raise AiortcInternalsChanged(
            "the media fan-out relies on private aiortc/aioice pieces that changed: "
            + "; ".join(problems)
        )
