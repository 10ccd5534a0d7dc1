"""Screenshots go to the run's folder; the committed README images change only with GATEWAY_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import pytest

from tests.web import shots

PNG = b"\x89PNG\r\n\x1a\n-test-image"


class FakePage:
    """Stands in for a Playwright page: only the screenshot call, which writes the bytes it is given."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def screenshot(self, *, path: str, full_page: bool) -> None:
        self.calls.append({"path": path, "full_page": full_page})
        with open(path, "wb") as out:
            out.write(PNG)


@pytest.fixture
def folders(tmp_path, monkeypatch):
    committed, run = tmp_path / "committed", tmp_path / "run"
    committed.mkdir()
    (committed / "02-dashboard.png").write_bytes(b"the README's image")
    monkeypatch.setattr(shots, "COMMITTED_DIR", committed)
    monkeypatch.setenv(shots.DIR_VARIABLE, str(run))
    monkeypatch.delenv(shots.UPDATE_VARIABLE, raising=False)
    return committed, run


def test_a_run_writes_into_its_own_folder_and_leaves_the_committed_image_alone(folders):
    committed, run = folders
    page = FakePage()
    assert shots.shot(page, "02-dashboard") == run / "02-dashboard.png"
    assert page.calls == [{"path": str(run / "02-dashboard.png"), "full_page": True}]
    assert (run / "02-dashboard.png").read_bytes() == PNG
    assert (committed / "02-dashboard.png").read_bytes() == b"the README's image"
    assert sorted(p.name for p in committed.iterdir()) == ["02-dashboard.png"]


@pytest.mark.parametrize("value", ["0", "", "yes"])
def test_only_the_value_1_refreshes_the_committed_images(folders, monkeypatch, value):
    committed, _ = folders
    monkeypatch.setenv(shots.UPDATE_VARIABLE, value)
    shots.shot(FakePage(), "02-dashboard")
    assert (committed / "02-dashboard.png").read_bytes() == b"the README's image"


def test_update_screenshots_1_copies_the_new_image_over_the_committed_one(folders, monkeypatch):
    committed, run = folders
    monkeypatch.setenv(shots.UPDATE_VARIABLE, "1")
    shots.shot(FakePage(), "02-dashboard")
    shots.shot(FakePage(), "07-new-page")
    assert (committed / "02-dashboard.png").read_bytes() == PNG == (run / "02-dashboard.png").read_bytes()
    assert (committed / "07-new-page.png").read_bytes() == PNG
    shots.shot(FakePage(), "not-in-the-readme", in_readme=False)
    assert (run / "not-in-the-readme.png").read_bytes() == PNG and not (committed / "not-in-the-readme.png").exists()


def test_without_a_folder_setting_the_run_folder_is_var_screenshots_outside_git(monkeypatch):
    monkeypatch.delenv(shots.DIR_VARIABLE, raising=False)
    assert shots.run_dir() == shots.RUN_DIR
    assert shots.RUN_DIR.parts[-2:] == ("var", "screenshots")
    assert shots.RUN_DIR.parent.parent == shots.COMMITTED_DIR.parents[2]  # var/ at the repository root, which .gitignore covers
