"""The zhengkw18/face-vid2vid family: the paper's networks (F, L, H+Δ, M, G, D)."""
