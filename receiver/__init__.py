"""vid2vid.receiver: not built yet; see README status."""
