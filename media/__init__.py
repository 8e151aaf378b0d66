"""Media: the aiortc worker that carries a Space's audio. Pure asyncio, no Django in the loop.

Modules, one concept each:

- ``worker``: :class:`~media.worker.MediaWorker`, the API the signaling glue calls (join, roles,
  mute, kick, end; levels and audio taps).
- ``origin``: one per live Space: per-speaker FIFOs, the 20 ms mix clock, mix-minus, levels.
- ``fanout``: the direct forwarding loop (RTP header rewrite, SRTP, ``sendto``) and RTCP SRs.
- ``edge``: the encoded mix handed from a Space's origin to edge workers (the message format,
  the publisher; the transport is the caller's).
- ``peer``: one participant's RTCPeerConnection, answered Opus-only, with aiortc's send loop
  replaced by the fan-out and incoming audio gated by permission.
- ``dsp``: numpy mixing arithmetic, dBov levels, the jitter FIFO, the Opus encoder.
- ``ice``: no public STUN by default, coturn REST TURN credentials, host-address choice.
- ``gcpolicy``: keeps the cyclic GC from stalling the clock with hundreds of peers.
- ``compat``: the private aiortc pieces relied on, checked at start (aiortc is pinned).
- ``client``: a small aiortc client for tests and benchmarks.

Client protocol the glue relays (see ``MediaWorker.join``): the client creates an
RTCPeerConnection with the ``iceServers`` it was given (``ice.client_ice_servers``: empty unless
TURN is configured), adds ONE audio transceiver, ``sendrecv`` (a listener with no track, so a
later promotion is only ``sender.replaceTrack(mic)``), waits for ICE gathering to complete (the
worker does not take trickled candidates), and sends the offer SDP; the worker's answer SDP comes
back over the same socket.
"""
