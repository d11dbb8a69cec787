"""Where the package's files are: the package folder and the top-level `templates/` folder.

A module of its own, below everything that needs it (`birthreg.main`, `birthreg.i18n`), so that
no module imports one above it.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def templates_directory() -> Path:
    """The top-level `templates/` folder.

    In a source tree (and an editable install) it sits beside the package; a regular install
    (`pip install .`, the Docker image) puts it under `<prefix>/share/birthreg/templates`.
    """
    source_tree = PACKAGE_DIR.parent
    candidates = []
    if (source_tree / "pyproject.toml").is_file():
        candidates.append(source_tree / "templates")
    candidates.append(Path(sys.prefix) / "share" / "birthreg" / "templates")
    for candidate in candidates:
        if (candidate / "base.html").is_file():
            return candidate
    raise RuntimeError(
        "templates not found; looked in " + ", ".join(str(c) for c in candidates)
    )
