"""vid2vid.sender: the sending end of a call: capture, face tracking, the stream encoder on a worker thread, WebRTC, ``vid2vid-send``."""
