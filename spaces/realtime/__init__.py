"""The sockets: the Space socket and the home feed, their protocol, the per-process hub that
fans room events out, presence, and the frames written straight to Daphne."""
