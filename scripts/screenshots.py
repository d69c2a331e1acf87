#!/usr/bin/env python3
"""Screenshots of the explorer's main pages into docs/screenshots/ (see its README.md).

    .venv/bin/python scripts/screenshots.py                 # starts its own devnet
    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:26657 --data devnet

Without ``--url`` it runs ``fcl devnet --data <temp dir> --base-port <free>`` until the
sample is loaded, takes the screenshots and stops it. Uses Debian's /usr/bin/chromium
through /usr/bin/chromedriver (scripts/install-browser.sh), headless, nothing downloaded.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1")
WIDTH = 1280
MAX_HEIGHT = 2400
PHONE_WIDTH = 390
#: Largest PNG kept in the repository: a longer page is shot shorter (its top part).
MAX_BYTES = 300_000


def free_base_port(span: int = 40) -> int:
    for _ in range(200):
        base = random.randrange(20_000, 45_000)
        try:
            for port in range(base, base + span):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise SystemExit("no free port range")


def start_devnet(data: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "fcl", "devnet", "--data", str(data),
           "--base-port", str(free_base_port())]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=ROOT, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        print("  devnet | " + line.rstrip(), flush=True)
        if line.startswith("explorer:"):
            url = line.split(":", 1)[1].strip().removesuffix("/explorer/")
        if line.startswith("serving;"):
            return proc, url
    raise SystemExit(f"the devnet stopped before serving (exit {proc.wait()})")


def driver(width: int = WIDTH, prefix: str = "fcl-shots-") -> Any:
    """Headless Debian Chromium through Selenium, ``width`` pixels wide (also
    scripts/portal_screenshots.py)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix=prefix)}")
    options.add_argument(f"--window-size={width},900")
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                            options=options)


def _fit(path: Path, retake: Any, height: int) -> None:
    """Retake shorter (the top of the page) until the PNG is at most MAX_BYTES."""
    while path.stat().st_size > MAX_BYTES and height > 500:
        height = int(height * 0.8)
        retake(height)


def _wrote(path: Path) -> None:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"wrote {shown} ({path.stat().st_size // 1024} KiB)")


def shoot(d: Any, out: Path, name: str) -> None:
    d.set_window_size(WIDTH, 600)  # measure the content, not the previous window
    time.sleep(0.2)
    height = int(d.execute_script("return document.documentElement.scrollHeight"))
    path = out / f"{name}.png"

    def take_at(h: int) -> None:
        d.set_window_size(WIDTH, min(max(h, 600), MAX_HEIGHT))
        time.sleep(0.2)
        d.save_screenshot(str(path))

    take_at(height)
    _fit(path, take_at, min(height, MAX_HEIGHT))
    _wrote(path)


def shoot_element(d: Any, out: Path, name: str, selector: str) -> None:
    """A screenshot of one element (e.g. the account page's statement)."""
    from selenium.webdriver.common.by import By

    d.set_window_size(WIDTH, MAX_HEIGHT)
    time.sleep(0.2)
    path = out / f"{name}.png"
    d.find_element(By.CSS_SELECTOR, selector).screenshot(str(path))
    _wrote(path)


def shoot_phone(d: Any, out: Path, name: str) -> None:
    """The current page at a 390 px phone viewport (its whole height, at most
    MAX_HEIGHT)."""
    def emulate(h: int) -> None:
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": PHONE_WIDTH, "height": h, "deviceScaleFactor": 1, "mobile": True})
        time.sleep(0.3)

    emulate(844)
    try:
        height = min(int(d.execute_script("return document.documentElement.scrollHeight")),
                     MAX_HEIGHT)
        path = out / f"{name}.png"

        def take_at(h: int) -> None:
            emulate(h)
            d.save_screenshot(str(path))

        take_at(height)
        _fit(path, take_at, height)
        _wrote(path)
    finally:
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def submit_certificate(d: Any, base: str, path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d.get(f"{base}/explorer/verify")
    d.find_element(By.CSS_SELECTOR, "input[type=file][name=certificate]").send_keys(str(path))
    d.find_element(By.CSS_SELECTOR, "form.verify button[type=submit]").click()
    WebDriverWait(d, 30).until(lambda drv: drv.find_elements(By.ID, "verdict"))


def take(base: str, data: Path, out: Path) -> None:
    from fcl.devnet.sample import ORGS

    marker = json.loads((data / "sample.json").read_text(encoding="utf-8"))
    comp, vol = marker["compliance_retirement_id"], marker["voluntary_retirement_id"]
    owner = next(o.org_id for o in ORGS if o.slot == "owner")
    certs = data / "certificates"
    out.mkdir(parents=True, exist_ok=True)
    d = driver()
    try:
        # the main pages in both languages (?lang= sets the language cookie)
        for lang in ("en", "zh"):
            for name, path in (("dashboard", "/explorer/"),
                               ("project", f"/explorer/projects/{marker['project_id']}"),
                               ("market", "/explorer/market"),
                               ("indicators", "/explorer/indicators")):
                d.get(f"{base}{path}?lang={lang}")
                shoot(d, out, f"{name}-{lang}")
            d.get(f"{base}/explorer/accounts/{owner}?period=year&lang={lang}")
            shoot_element(d, out, f"statement-{lang}", "#statement")
            d.get(f"{base}/explorer/verify/{comp}?lang={lang}")
            shoot_phone(d, out, f"verify-phone-{lang}")
        d.get(f"{base}/explorer/?lang=en")
        for name, path in (("trace", f"/explorer/trace/{marker['project_id']}:1"),
                           ("certificate", f"/explorer/certificates/{comp}")):
            d.get(base + path)
            shoot(d, out, name)
        submit_certificate(d, base, certs / f"compliance-{comp}.json")
        shoot(d, out, "verify-valid")
        original = (certs / f"voluntary-{vol}.json").read_text(encoding="utf-8")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(original.replace("Huangshan Scenic Area", "Huangshan Scen1c Area"))
        submit_certificate(d, base, Path(f.name))
        shoot(d, out, "verify-tampered")
    finally:
        d.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="base URL of a running devnet node (needs --data)")
    parser.add_argument("--data", type=Path, help="that devnet's --data directory")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if args.url:
        if args.data is None:
            parser.error("--url needs --data (for the sample marker and certificates)")
        take(args.url.rstrip("/"), args.data, args.out)
        return 0
    with tempfile.TemporaryDirectory(prefix="fcl-shots-devnet-") as tmp:
        data = Path(tmp) / "devnet"
        proc, base = start_devnet(data)
        try:
            take(base, data, args.out)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
