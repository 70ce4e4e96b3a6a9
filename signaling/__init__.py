"""vid2vid.signaling: not built yet; see README status."""
