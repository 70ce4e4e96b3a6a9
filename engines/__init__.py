"""vid2vid.engines: not built yet; see README status."""
