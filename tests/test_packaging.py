"""The installed package matches the repository's folders."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_in_pyproject():
    setuptools = _pyproject()["tool"]["setuptools"]
    mapping = setuptools["package-dir"]
    listed = set(setuptools["packages"])
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            package = ".".join([name, *relative.parts]) if relative.parts else name
            assert package in listed, (
                f"{package} ({init.parent}) is missing from pyproject packages"
            )


def test_subpackages_import_under_one_name():
    import vid2vid.codec
    import vid2vid.engines
    import vid2vid.receiver
    import vid2vid.sender
    import vid2vid.signaling

    assert vid2vid.__version__
    for module in (
        vid2vid.codec,
        vid2vid.engines,
        vid2vid.receiver,
        vid2vid.sender,
        vid2vid.signaling,
    ):
        assert module.__name__.startswith("vid2vid.")


@pytest.mark.slow
def test_the_wheel_carries_the_default_model(tmp_path) -> None:
    """A user who installs from a wheel (not this checkout) gets the trained weights too."""
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).parents[1]
    had_build = (root / "build").exists()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(root)],
        check=True,
    )  # fmt: skip
    if not had_build:  # setuptools builds in the source tree; leave it as it was
        import shutil

        shutil.rmtree(root / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("vid2vid-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("model.safetensors", "config.json", "MODEL_CARD.md"):
        assert f"vid2vid/codec/weights/default/{name}" in names
