"""What sender and receiver of a live call share: the packet-transport seam (with its lossy
in-memory pair), control messages, the capture clock, per-stage statistics and the WebRTC
peer-connection setup (ICE host restriction, uvloop)."""
