"""vid2vid.signaling: the rooms-over-WebSocket signaling server, its client, and the demo page.

The server (`vid2vid-signal`, vid2vid.signaling.server) imports no media part; the client
(vid2vid.signaling.client) is what sender and receiver use to find each other.
"""
