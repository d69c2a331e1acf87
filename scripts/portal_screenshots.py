#!/usr/bin/env python3
"""Screenshots of the portal's main forms into docs/screenshots/ (see its README.md).

    .venv/bin/python scripts/portal_screenshots.py

Starts a one-validator development node (``fcl node init`` / ``fcl node start`` in a
temporary directory) and two portals: the regulator's (the dev genesis's ``regulator``
key) and, once the regulator enrolled it through its portal, an owner's. Drives them
with headless Debian Chromium through Selenium (as scripts/screenshots.py): unlock, the
role's steps in Chinese, a refused dry run, an accepted one and its committed result,
the owner's plot registration from a GeoJSON file with the map preview and area check.
Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
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
WIDTH = 1100
MAX_HEIGHT = 2400
PASSPHRASE = "portal-screenshots-only"
#: a ~11 ha plot in Xiuning county (decimal degrees, WGS 84)
PLOT = [[118.1800, 29.7900], [118.1835, 29.7902], [118.1838, 29.7931], [118.1812, 29.7935],
        [118.1797, 29.7918], [118.1800, 29.7900]]


def free_port() -> int:
    for _ in range(200):
        port = random.randrange(20_000, 45_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port")


def fcl(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "fcl", *args], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_http(url: str, timeout_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='fcl-portal-shots-')}")
    options.add_argument(f"--window-size={WIDTH},900")
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                            options=options)


def shoot(d: Any, out: Path, name: str) -> None:
    d.set_window_size(WIDTH, 600)
    time.sleep(0.2)
    height = int(d.execute_script("return document.documentElement.scrollHeight"))
    d.set_window_size(WIDTH, min(max(height, 600), MAX_HEIGHT))
    time.sleep(0.2)
    path = out / f"{name}.png"
    d.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def fill(d: Any, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        element = d.find_element(By.NAME, name)
        if element.tag_name == "select":
            from selenium.webdriver.support.ui import Select

            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)


def click(d: Any, css: str) -> None:
    from selenium.webdriver.common.by import By

    d.find_element(By.CSS_SELECTOR, css).click()


def unlock(d: Any, base: str) -> None:
    d.get(base + "/?lang=en")
    fill(d, {"passphrase": PASSPHRASE})
    click(d, "form[action='/unlock'] button")
    wait_for(d, "form[action='/lock']")


def wait_for(d: Any, css: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, 30).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, css))


def declared_ha(geojson: Path) -> str:
    """The polygon's geodesic area in ha to 4 places, as the contract computes it."""
    from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
    from ledger.fixedpoint import format_decimal
    from wallet.builder import geojson_to_ledger, load_geojson

    poly = parse_polygon(geojson_to_ledger(load_geojson(geojson.read_bytes())))
    return format_decimal(geodesic_area_m2_rational(poly) / 10_000, 4)


def take(tmp: Path, out: Path) -> None:
    from wallet.keystore import Keystore

    env = dict(os.environ, FCL_PASSPHRASE=PASSPHRASE)
    node_port, reg_port, owner_port = free_port(), free_port(), free_port()
    home = tmp / "node"
    subprocess.run([sys.executable, "-m", "fcl", "node", "init", "--home", str(home),
                    "--rpc-port", str(node_port)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    owner_store = Keystore(tmp / "owner-wallet")
    owner_pub = owner_store.create("forester", PASSPHRASE)
    node_url = f"http://127.0.0.1:{node_port}"
    procs = [fcl("node", "start", "--home", str(home), env=env)]
    try:
        wait_http(node_url + "/v1/status")
        procs.append(fcl("portal", "--node", node_url, "--keystore",
                         str(home / "wallet" / "regulator.json"), "--port", str(reg_port),
                         env=env))
        procs.append(fcl("portal", "--node", node_url, "--keystore",
                         str(tmp / "owner-wallet" / "forester.json"), "--port",
                         str(owner_port), env=env))
        reg, owner = f"http://127.0.0.1:{reg_port}", f"http://127.0.0.1:{owner_port}"
        wait_http(reg + "/")
        wait_http(owner + "/")
        out.mkdir(parents=True, exist_ok=True)
        d = driver()
        try:
            d.get(reg + "/?lang=en")
            shoot(d, out, "portal-unlock")
            unlock(d, reg)
            d.get(reg + "/?lang=zh")
            shoot(d, out, "portal-regulator-steps-zh")
            d.get(reg + "/forms/membership.enrol_org?lang=en")
            fill(d, {"org_id": "regulator", "name": "Again", "roles": "owner",
                     "admins": owner_pub})
            click(d, "form[action='/forms/membership.enrol_org'] button:not([name])")
            wait_for(d, ".refused")
            shoot(d, out, "portal-dry-run-refused")
            d.get(reg + "/forms/membership.enrol_org?lang=en")
            fill(d, {"org_id": "xiuning-farm", "name": "休宁县国有林场 Xiuning State Forest Farm",
                     "roles": "owner", "admins": owner_pub})
            click(d, "form[action='/forms/membership.enrol_org'] button:not([name])")
            wait_for(d, "form[action$='/submit']")
            shoot(d, out, "portal-dry-run-ok")
            click(d, "form[action$='/submit'] button")
            wait_for(d, "a.explorer")
            shoot(d, out, "portal-committed")

            unlock(d, owner)
            d.get(owner + "/forms/carbon.register_plot?lang=zh")
            wait_for(d, "input[name='geojson__file']")
            shoot(d, out, "portal-register-plot-form-zh")
            geojson = tmp / "plot.geojson"
            geojson.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": {
                "type": "Polygon", "coordinates": [PLOT]}}), encoding="utf-8")
            from selenium.webdriver.common.by import By

            d.find_element(By.NAME, "geojson__file").send_keys(str(geojson))
            fill(d, {"plot_id": "XN-SF-09", "declared_area_ha": declared_ha(geojson), "county_code": "341022",
                     "tenure.doc_type": "forest_right_cert", "tenure.doc_number": "皖(2019)休宁县不动产权第0012号",
                     "tenure.scan_sha256": "ab" * 32, "species": "chinese_fir",
                     "planting_date": "2016-03-15", "non_forest_evidence.sha256": "cd" * 32,
                     "non_forest_evidence.years": "10"})
            click(d, "form[action='/forms/carbon.register_plot'] button:not([name])")
            wait_for(d, ".plot-check")
            shoot(d, out, "portal-register-plot-dry-run-zh")
        finally:
            d.quit()
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fcl-portal-shots-") as tmp:
        take(Path(tmp), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
