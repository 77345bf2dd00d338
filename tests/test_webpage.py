"""The web page in a real headless Chromium: upload a photo, see the result, take a screenshot.

Needs Debian's chromium and Playwright for Python (the browser is Debian's, never
downloaded by Playwright):

    apt-get install -y chromium && pip install playwright

Skipped (with the reason) when either is missing. The screenshot is written to
``$FACEOCC_SCREENSHOT_DIR`` when set (default: the test's tmp folder).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None
) or shutil.which("chromium")

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"),
]
playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)
pytest.importorskip("uvicorn", reason="uvicorn is not installed (pip install 'faceocc[serve]')")

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    import uvicorn

    from faceocc.server import ServerSettings, create_app

    port = _free_port()
    app = create_app(ServerSettings(workers=1))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def photo(tmp_path) -> Path:
    from PIL import Image
    from skimage import data

    path = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=92)
    return path


def _shot_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("FACEOCC_SCREENSHOT_DIR") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_upload_shows_result_and_screenshot(server_url, browser, photo, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    external, console_errors = [], []
    page.on(
        "request", lambda r: external.append(r.url) if not r.url.startswith((server_url, "data:", "blob:")) else None
    )
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    page.goto(server_url + "/")
    assert page.title().startswith("faceocc")
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#result[data-state=done]", timeout=30_000)
    cards = page.locator("#faces li.face")
    assert cards.count() >= 1
    first = cards.first
    assert first.get_attribute("data-verdict") in {"clear", "occluded", "unknown"}
    text = first.inner_text()
    assert "Face 1" in text and ("coverage" in text or "why" in text)
    assert "astronaut.jpg" in page.inner_text("#status")
    # the canvas holds the photo at its own size and is drawn on
    size = page.evaluate("() => [document.getElementById('canvas').width, document.getElementById('canvas').height]")
    assert size == [512, 512]
    painted = page.evaluate("""() => { const c = document.getElementById('canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 100_000
    shot = _shot_dir(tmp_path) / "webpage.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not external, f"the page fetched something from outside the server: {external}"
    assert not console_errors, f"browser console errors: {console_errors}"
    page.close()


def test_server_error_is_shown(server_url, browser, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    page = browser.new_page()
    page.goto(server_url + "/")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#result[data-state=error]", timeout=30_000)
    assert "unreadable_image" in page.inner_text("#status")
    page.close()
