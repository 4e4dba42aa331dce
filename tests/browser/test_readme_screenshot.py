"""The script that makes the README's screenshot still makes it (the pages change under it)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.browser.readme_screenshot import write


async def test_the_readme_screenshot_is_the_overview_of_a_server_with_jobs(
    chromium_executable: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dashboard.png"
    await write(out)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width == 1040 and image.height >= 600
