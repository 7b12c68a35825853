"""Drive chapter 8's trimap painter in a real browser and save screenshots before and after.

Not part of the test suite (it needs Chromium and Playwright, which CI does not
have); the widget's logic is tested from Python in tests/test_widgets_painter.py.
This script checks what those tests cannot: that JupyterLab renders the widget
(no "Error displaying widget") and that clicks in the page reach the kernel.

Usage::

    pip install playwright                      # no browser download: a system Chromium is used
    python tools/browser_check_widgets.py --out /tmp/browser_check [--chromium /usr/bin/chromium]

It starts JupyterLab on localhost with a random token, opens
``solutions/08_your_photo.ipynb``, runs the cells up to the painter, then drags
the sliders' handles so that the rectangle covers the top right of the photo,
selects "unknown", presses apply, "grow band" and "matte it", and writes
``before.png``, ``dragged.png``, ``after.png`` and ``report.json``
(the painter's info line before and after, and what was clicked).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "solutions/08_your_photo.ipynb"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_lab(port: int, token: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if "MATTINGLIB_DATA" not in env and (ROOT.parent / "shared" / "data").is_dir():
        env["MATTINGLIB_DATA"] = str((ROOT.parent / "shared" / "data").resolve())
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--allow-root"]
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_for_lab(port: int, token: str, timeout: float = 120) -> None:
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"JupyterLab did not answer on port {port} within {timeout} s")


def _painter_info(page) -> str:
    outputs = page.locator(".jp-OutputArea-output .widget-html-content")
    return outputs.filter(has_text="band").last.inner_text()


def check(out: Path, chromium: str, cells_to_painter: int, timeout_ms: int) -> dict:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    for old in ("before.png", "dragged.png", "after.png", "failure.png", "report.json"):
        (out / old).unlink(missing_ok=True)
    port, token = _free_port(), secrets.token_hex(16)
    lab = _start_lab(port, token, out / "jupyterlab.log")
    report: dict = {"clicked": []}
    try:
        _wait_for_lab(port, token)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(timeout_ms)
            try:
                _drive(page, port, token, out, cells_to_painter, report)
            except Exception:
                page.screenshot(path=str(out / "failure.png"), full_page=True)
                raise
            browser.close()
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _drive(page, port: int, token: str, out: Path, cells_to_painter: int, report: dict) -> None:
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    # Keys pressed before the kernel is up run nothing: wait until the status bar says "Idle".
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for()
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Escape")                         # command mode
    for _ in range(cells_to_painter):
        page.keyboard.press("Shift+Enter")
        time.sleep(0.3)
    button = page.locator(".jupyter-widgets button", has_text="apply")
    button.wait_for()
    widget = page.locator(".jp-OutputArea-output").filter(has=button)
    widget.scroll_into_view_if_needed()
    time.sleep(1)
    report["info_before"] = _painter_info(page)
    widget.screenshot(path=str(out / "before.png"))
    report["errors_displaying"] = page.locator("text=Error displaying widget").count()

    # Move the rectangle onto the top right of the photo (the hair of the default photo, GT11):
    # handles 0 and 1 are the x slider's, 2 and 3 the y slider's.
    for index, dx, what in ((0, 110, "x from"), (1, 60, "x to"), (2, -60, "y from"),
                            (3, -60, "y to")):
        box = widget.locator(".noUi-handle").nth(index).bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx, y, steps=8)
        page.mouse.up()
        report["clicked"].append(f"dragged the '{what}' handle {dx:+d} px")
        time.sleep(1.5)
    report["info_after_drag"] = _painter_info(page)
    widget.screenshot(path=str(out / "dragged.png"))
    for label in ("unknown", "apply", "grow band"):
        widget.locator("button", has_text=label).first.click()
        report["clicked"].append(f"button '{label}'")
        time.sleep(1.5)
    report["info_after_clicks"] = _painter_info(page)
    widget.locator("button", has_text="matte it").click()
    report["clicked"].append("button 'matte it'")
    title = widget.locator(".widget-html-content b").nth(1)
    deadline = time.time() + 300
    while "press" in title.inner_text() and time.time() < deadline:    # closed-form on the photo
        time.sleep(1)
    time.sleep(1)
    report["matte_title"] = title.inner_text()
    widget.screenshot(path=str(out / "after.png"))
    report["errors_displaying"] += page.locator("text=Error displaying widget").count()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/browser_check"),
                   help="where screenshots go")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium executable")
    p.add_argument("--cells", type=int, default=9,
                   help="Shift+Enter presses from the first cell to run the painter's cell")
    p.add_argument("--timeout", type=int, default=240,
                   help="seconds to wait for any one page element")
    args = p.parse_args(argv)
    report = check(args.out, args.chromium, args.cells, args.timeout * 1000)
    print(json.dumps(report, indent=2))
    return 0 if report.get("errors_displaying") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
