"""vid2vid.receiver: the receiving end of a call: jitter buffer, the stream decoder and render scheduling, sinks, WebRTC, ``vid2vid-recv``."""
