"""The wire format: packets, quantization and entropy coding (standard library and numpy only)."""
