"""The bitstream modules load no heavy or async dependency, so a thin client can decode."""

from __future__ import annotations

import subprocess
import sys

MODULES = ["keyframe", "chunks", "volume", "container"]
FORBIDDEN = ["torch", "cv2", "av", "aiortc", "asyncio"]


def test_bitstream_modules_import_no_heavy_dependency() -> None:
    imports = "; ".join(f"import vid2vid.codec.bitstream.{m}" for m in MODULES)
    script = f"import sys; {imports}; print(' '.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == []
