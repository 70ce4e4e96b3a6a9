"""vid2vid.sender: not built yet; see README status."""
