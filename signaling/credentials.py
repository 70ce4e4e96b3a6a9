"""Secrets a command presents to the services of a call: the room token and TURN credentials.

A command line is visible to every user of the machine (``ps``, ``/proc/PID/cmdline``), so
every secret can also come from a file (``--token-file``, ``--turn-password-file``; one line,
trailing newline ignored, as Docker and Kubernetes secrets are mounted) or from an environment
variable. Standard library only: the signaling server and both call commands use it.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from vid2vid.errors import ConfigError

log = logging.getLogger(__name__)

#: A secret file larger than this is not a secret file (a wrong path, say a video).
MAX_SECRET_BYTES = 4096


@dataclass(frozen=True)
class SecretSource:
    """Where one secret may come from: a flag (already parsed), a file flag and a variable."""

    flag: str  # "--token"
    env: str  # "VID2VID_TOKEN"

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def file_flag(self) -> str:
        return f"{self.flag}-file"

    @property
    def file_dest(self) -> str:
        return f"{self.dest}_file"


#: The call commands' secrets (``--token`` and ``--turn-password`` are defined with the other
#: shared flags; this module adds their file flags and variables).
CALL_SECRETS = (
    SecretSource("--token", "VID2VID_TOKEN"),
    SecretSource("--turn-password", "VID2VID_TURN_PASSWORD"),
)
#: The TURN user name is no secret but travels with the password, so it has a variable too.
TURN_USERNAME_ENV = "VID2VID_TURN_USERNAME"


def read_secret_file(path: Path, flag: str) -> str:
    """The one-line secret in ``path``; ConfigError naming ``flag`` when it is unusable."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise ConfigError(f"{flag}: {path} is over {MAX_SECRET_BYTES} bytes; not a secret file")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{flag}: {path} is not UTF-8 text") from None
    if not text or "\n" in text:
        raise ConfigError(f"{flag}: {path} must hold one non-empty line")
    return text


def resolve_secret(
    source: SecretSource, value: str | None, path: Path | None, environ: dict[str, str]
) -> str | None:
    """The secret from the file, else the flag, else the variable; None when none is set."""
    if value is not None and path is not None:
        raise ConfigError(f"give {source.flag} or {source.file_flag}, not both")
    if path is not None:
        return read_secret_file(path, source.file_flag)
    if value is not None:
        if not value:
            raise ConfigError(f"{source.flag} must not be empty")
        log.warning(
            "%s on the command line is visible to other users (ps); prefer %s or %s",
            source.flag,
            source.env,
            source.file_flag,
        )
        return value
    return environ.get(source.env) or None


def add_secret_file_arguments(
    parser: argparse.ArgumentParser, sources: tuple[SecretSource, ...] = CALL_SECRETS
) -> None:
    """``--X-file PATH`` for each secret (its ``--X`` flag is defined elsewhere)."""
    for source in sources:
        parser.add_argument(
            source.file_flag,
            type=Path,
            default=None,
            metavar="PATH",
            help=f"read {source.flag} from this file (one line); or set {source.env}. "
            f"Safer than {source.flag}, which other users can see in ps"
            + (f" ({TURN_USERNAME_ENV} sets --turn-username)" if "turn" in source.flag else ""),
        )


def resolve_secret_arguments(
    args: argparse.Namespace,
    sources: tuple[SecretSource, ...] = CALL_SECRETS,
    environ: dict[str, str] | None = None,
) -> None:
    """Fill each secret's ``args`` field from its flag, file or variable (in place)."""
    environ = dict(os.environ) if environ is None else environ
    for source in sources:
        secret = resolve_secret(
            source, getattr(args, source.dest), getattr(args, source.file_dest), environ
        )
        setattr(args, source.dest, secret)
    if hasattr(args, "turn_username") and args.turn_username is None:
        args.turn_username = environ.get(TURN_USERNAME_ENV) or None
