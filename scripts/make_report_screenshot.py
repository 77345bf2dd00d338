"""Make docs/report.png, the README's screenshot of the HTML batch report (``faceocc analyze ... --report DIR``).

Runs ``faceocc analyze`` on the bundled examples/ plus a generated photo without a face and a file that is not an
image, opens the report in headless Chromium (Debian's /usr/bin/chromium through Playwright; no browser is
downloaded) and saves the top of the page as a small palette PNG.

    python scripts/make_report_screenshot.py [--out docs/report.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]


def make_report(work: Path) -> Path:
    """The report of examples/ + a photo without a face + a broken file (paths relative to ``work``, as a user
    would type them); the folder it went to."""
    shutil.copytree(ROOT / "examples", work / "examples")
    inputs = work / "more"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    wall = (np.linspace(60, 200, 240)[None, :, None] + rng.normal(0, 4, (180, 240, 3))).clip(0, 255)
    Image.fromarray(wall.astype(np.uint8)).save(inputs / "empty_wall.png")
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    cmd = [sys.executable, "-m", "faceocc", "analyze", "examples", "more", "--report", "report"]
    cmd += ["--jsonl", "records.jsonl", "--threads", "1"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    print(done.stderr, end="", file=sys.stderr)
    out = work / "report"
    if not (out / "index.html").is_file():
        raise SystemExit(f"no report was written (exit code {done.returncode})")
    return out


def screenshot(page_path: Path, png: Path, width: int = 1100, height: int = 1250) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(png), full_page=True)
        browser.close()


def shrink(src: Path, dest: Path, width: int = 900) -> None:
    """A palette PNG ``width`` pixels wide (the README's screenshot stays well under 300 KB)."""
    image = Image.open(src).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--keep", type=Path, help="also copy the report folder here")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("Debian's chromium is needed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report = make_report(work)
        screenshot(report / "index.html", work / "full.png")
        shrink(work / "full.png", args.out)
        if args.keep:
            shutil.copytree(report, args.keep)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
