"""A regular install (the Docker image) carries every template folder: setuptools' data-files
does not recurse, so each folder under templates/ needs its own line in pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_template_folder_is_installed() -> None:
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    listed = {pattern for patterns in data_files.values() for pattern in patterns}
    folders = {path.parent for path in (ROOT / "templates").rglob("*.html")}
    for folder in folders:
        pattern = f"{folder.relative_to(ROOT).as_posix()}/*.html"
        assert pattern in listed, f"pyproject.toml [tool.setuptools.data-files] lacks {pattern}"
