"""Where the browser tests save their screenshots.

Every run writes into a folder of its own outside git (`var/screenshots/`, or
GATEWAY_SCREENSHOT_DIR), so `make test` leaves the tree clean: the pages show live dates and ids,
and a committed image would change on every run. The images the README shows
(tests/web/screenshots/) are refreshed only when asked: GATEWAY_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

COMMITTED_DIR = Path(__file__).parent / "screenshots"
RUN_DIR = Path(__file__).resolve().parents[2] / "var" / "screenshots"
UPDATE_VARIABLE = "GATEWAY_UPDATE_SCREENSHOTS"
DIR_VARIABLE = "GATEWAY_SCREENSHOT_DIR"


def run_dir() -> Path:
    return Path(os.environ.get(DIR_VARIABLE) or RUN_DIR)


def updating_committed() -> bool:
    return os.environ.get(UPDATE_VARIABLE) == "1"


def shot(page, name: str, *, in_readme: bool = True) -> Path:
    """Save a full-page screenshot of `page` as `<name>.png` in this run's folder (and, when asked, over
    the README's copy; `in_readme=False` for the shots the README does not show)."""
    folder = run_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if in_readme and updating_committed():
        COMMITTED_DIR.mkdir(exist_ok=True)
        shutil.copyfile(path, COMMITTED_DIR / path.name)
    return path
