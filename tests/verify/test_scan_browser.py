"""/verify opened directly (issue 16): a certificate's QR code read by the camera (Chromium's
fake camera plays a picture of the code; jsQR reads it, as Linux Chromium has no
BarcodeDetector) and a pasted link, each checked like a scanned link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ci_guard import CHROMIUM, CHROMIUM_ARGS
from sqlmodel import Session

from birthreg import qr
from birthreg.db import make_engine
from verify.certificates import issue

PHONE = {"width": 390, "height": 844}
WIDTH, HEIGHT = 640, 480

pytestmark = pytest.mark.browser

_VALID = "() => document.getElementById('verdict').dataset.verdict === 'valid'"


def _y4m(text: str, path: Path) -> Path:
    """A still video (Y4M, 4:2:0) of the QR code of `text` as the certificate prints it, for
    Chromium's fake camera."""
    matrix = [list(row) for row in qr.make(text).matrix_iter(border=4)]
    scale = min(WIDTH, HEIGHT) // len(matrix)
    left, top = (WIDTH - scale * len(matrix)) // 2, (HEIGHT - scale * len(matrix)) // 2
    luma = bytearray([255]) * (WIDTH * HEIGHT)
    for row, cells in enumerate(matrix):
        for column, dark in enumerate(cells):
            if dark:
                for y in range(top + row * scale, top + (row + 1) * scale):
                    start = y * WIDTH + left + column * scale
                    luma[start : start + scale] = bytes(scale)
    chroma = bytes([128]) * (WIDTH * HEIGHT // 4)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F5:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 5)
    return path


def _certificate_links(live_server: Any) -> tuple[str, str]:
    engine = make_engine(live_server.settings.database_url)
    try:
        with Session(engine) as session:
            first = issue(live_server.settings, session)
            second = issue(live_server.settings, session, child_iin="260530600022",
                           act_record_number=124)
            return first.qr, second.qr
    finally:
        engine.dispose()


def test_scan_with_the_camera_and_paste(
    live_server: Any, chromium: Any, tmp_path: Path
) -> None:
    scanned, pasted = _certificate_links(live_server)
    video = _y4m(scanned, tmp_path / "qr.y4m")
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream",
              "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"],
    )
    try:
        context = browser.new_context(viewport=PHONE, is_mobile=True)
        context.grant_permissions(["camera"], origin=str(live_server))
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.goto(live_server + "/verify", wait_until="networkidle")
        assert page.get_by_test_id("verdict").get_attribute("data-verdict") in ("", None)
        page.get_by_test_id("scan-start").click()
        page.wait_for_function(_VALID, timeout=20_000)
        assert page.evaluate("location.hash") == "#" + scanned.split("#", 1)[1]
        # The camera is off again once the code is read.
        assert page.get_by_test_id("scan-start").is_visible()

        page.goto(live_server + "/verify", wait_until="networkidle")
        page.get_by_test_id("paste-text").fill(pasted)
        page.get_by_test_id("paste-check").click()
        page.wait_for_function(_VALID, timeout=10_000)
        assert page.evaluate("location.hash") == "#" + pasted.split("#", 1)[1]
        assert not problems, problems
    finally:
        browser.close()
