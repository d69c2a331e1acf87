#!/usr/bin/env python3
"""Screenshots of the portal's main forms into docs/screenshots/ (see its README.md).

    .venv/bin/python scripts/portal_screenshots.py

Starts a one-validator devnet (``fcl devnet --validators 1`` in a temporary directory,
the sample lifecycle included) and one ``fcl portal`` per person of the README path and
the other roles: the farm's forester, the cement maker's compliance clerk, the regulator,
a verification body and the exchange's matching engine. Drives them with headless Debian
Chromium through Selenium (as scripts/screenshots.py): unlock, the regulator's steps in
Chinese, the monitoring report's rows from the ledger, the calculator's figures step by
step, the report's dry run, the verifier's review beside the document, the regulator's
issuance picked from the verified reports, the exchange's open listings, the buyer's
obligation, a refused retirement, the committed retirement with its certificate link, and
the owner's plot registration from a GeoJSON file. Nothing is downloaded from the network.
Every PNG is kept under 300 KB (a page too long is shot shorter: its top part).
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

from screenshots import driver as shared_driver  # scripts/screenshots.py, beside this one

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 1100
MAX_HEIGHT = 2400
MAX_BYTES = 290_000  # "< 300 KB" with room to spare
PASSPHRASE = ""  # the devnet's dev passphrase, read from its directory
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
    return shared_driver(WIDTH, "fcl-portal-shots-")


def shoot(d: Any, out: Path, name: str) -> None:
    """A PNG of the page (its top part if it is long), under MAX_BYTES."""
    d.set_window_size(WIDTH, 600)
    time.sleep(0.2)
    height = min(max(int(d.execute_script("return document.documentElement.scrollHeight")),
                     600), MAX_HEIGHT)
    path = out / f"{name}.png"
    while True:
        d.set_window_size(WIDTH, height)
        time.sleep(0.2)
        d.save_screenshot(str(path))
        if path.stat().st_size < MAX_BYTES or height <= 600:
            break
        height = max(600, height * 3 // 4)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({path.stat().st_size // 1024} KB)")


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

    try:
        WebDriverWait(d, 30).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, css))
    except Exception:
        body = d.find_elements(By.TAG_NAME, "body")
        raise SystemExit(f"{css} not on {d.current_url}: "
                         f"{body[0].text[:2000] if body else ''}") from None


def declared_ha(geojson: Path) -> str:
    """The polygon's geodesic area in ha to 4 places, as the contract computes it."""
    from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
    from ledger.fixedpoint import format_decimal
    from wallet.builder import geojson_to_ledger, load_geojson

    poly = parse_polygon(geojson_to_ledger(load_geojson(geojson.read_bytes())))
    return format_decimal(geodesic_area_m2_rational(poly) / 10_000, 4)


def portal(node: str, keyfile: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return fcl("portal", "--node", node, "--keystore", str(keyfile), "--port", str(port),
               env=env)


def start_devnet(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fcl", "devnet", "--data", str(data),
                             "--base-port", str(port), "--validators", "1"], cwd=ROOT,
                            env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("serving;"):
            return proc, f"http://127.0.0.1:{port}"
    raise SystemExit(f"the devnet stopped before serving (exit {proc.wait()})")


def dry_run(d: Any, key: str) -> None:
    click(d, f"form[method=post][action='/forms/{key}'] button:not([name])")
    wait_for(d, "p.ok[role=status], .refused")


def submit(d: Any) -> None:
    click(d, "form[action$='/submit'] button")
    wait_for(d, "a.explorer")


def use_row(d: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    for row in d.find_elements(By.CSS_SELECTOR, "#picks tr"):
        links = row.find_elements(By.CSS_SELECTOR, "a.use")
        if text in row.text and links:
            links[0].click()
            return
    raise SystemExit(f"no panel row with {text!r}")


def take(tmp: Path, out: Path) -> None:
    import datetime

    import httpx

    from fcl.devnet.sample import PLOTS

    env = {k: v for k, v in os.environ.items() if k not in ("FCL_PASSPHRASE", "FCL_KEYSTORE")}
    data = tmp / "devnet"
    devnet, node = start_devnet(data, env)
    global PASSPHRASE
    PASSPHRASE = (data / "passphrase").read_text("utf-8").strip()
    people = {"owner": "xiuning-farm-forester", "clerk": "wanjiang-cement-clerk",
              "regulator": "regulator", "verifier": "hlcert-admin", "exchange": "ahcee-matching"}
    procs: list[subprocess.Popen[str]] = []
    urls: dict[str, str] = {}
    try:
        for who, name in people.items():
            port = free_port()
            procs.append(portal(node, data / "wallet" / f"{name}.json", port, env))
            urls[who] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            wait_http(url + "/")
        ms = int(httpx.get(node + "/v1/status", timeout=10).json()["latest_block_time"])
        today = datetime.datetime.fromtimestamp(
            ms / 1000, datetime.timezone(datetime.timedelta(hours=8))).date()
        out.mkdir(parents=True, exist_ok=True)
        d = driver()
        try:
            owner, clerk, reg = urls["owner"], urls["clerk"], urls["regulator"]
            d.get(owner + "/?lang=en")
            shoot(d, out, "portal-unlock")
            unlock(d, reg)
            d.get(reg + "/?lang=zh")
            shoot(d, out, "portal-regulator-steps-zh")

            # the README path: the owner's monitoring report, checked by the calculator
            unlock(d, owner)
            d.get(owner + "/forms/carbon.submit_monitoring_report?lang=en")
            wait_for(d, "#report-rows")
            values = {"report_id": "MR-XN-2026Q4",
                      "period_end": (today - datetime.timedelta(days=1)).isoformat()}
            for i, plot in enumerate(PLOTS):
                values[f"m{i}.volume_end"] = str(round(float(plot.volumes[-1]) * 1.02, 1))
            fill(d, values)
            shoot(d, out, "portal-report-rows")
            click(d, "button[name=calculate]")
            wait_for(d, "#calc-steps")
            shoot(d, out, "portal-report-calculated")
            report = tmp / "report-2026q4.pdf"
            report.write_bytes(b"%PDF monitoring report MR-XN-2026Q4")
            from selenium.webdriver.common.by import By

            d.find_element(By.NAME, "report_sha256__file").send_keys(str(report))
            dry_run(d, "carbon.submit_monitoring_report")
            shoot(d, out, "portal-report-dry-run")
            submit(d)

            # the verification body reviews the report beside its document
            unlock(d, urls["verifier"])
            d.get(urls["verifier"] + "/forms/carbon.attest_verification?lang=en")
            wait_for(d, "#picks")
            shoot(d, out, "portal-verifier-pending")
            use_row(d, "MR-XN-2026Q4")
            wait_for(d, "input[name='attestation_id']")
            claimed = httpx.get(node + "/v1/explorer/reports/MR-XN-2026Q4",
                                timeout=10).json()["report"]["claimed_issuable"]
            fill(d, {"attestation_id": "VER-HL-2026-Q4", "site_visit_date": today.isoformat(),
                     "verified_quantity": str(claimed)})
            d.find_element(By.NAME, "report_sha256__file").send_keys(str(report))
            dry_run(d, "carbon.attest_verification")
            shoot(d, out, "portal-verifier-review")
            submit(d)

            # the regulator issues it, picked from the verified reports
            d.get(reg + "/forms/carbon.issue?lang=zh")
            wait_for(d, "#picks")
            shoot(d, out, "portal-regulator-issue-zh")
            use_row(d, "MR-XN-2026Q4")
            wait_for(d, "input[name='batch_id']")
            fill(d, {"batch_id": "AH-XN-0001-B2026Q4"})
            dry_run(d, "carbon.issue")
            submit(d)

            # the exchange's open listings
            unlock(d, urls["exchange"])
            d.get(urls["exchange"] + "/forms/carbon.match_trade?lang=en")
            wait_for(d, "#picks")
            use_row(d, "xiuning-farm")
            wait_for(d, "input[name='listing_id']")
            shoot(d, out, "portal-exchange-match")

            # the buyer: the obligation, a refused retirement, then the certificate
            unlock(d, clerk)
            d.get(clerk + "/forms/carbon.retire_compliance?lang=en")
            wait_for(d, "#picks")
            use_row(d, "2025")
            wait_for(d, "input[name='quantity']")
            shoot(d, out, "portal-retire-compliance")
            dry_run(d, "carbon.retire_compliance")
            shoot(d, out, "portal-dry-run-refused")
            d.get(clerk + "/forms/carbon.retire_compliance?period=2025&lang=en")
            fill(d, {"quantity": "100"})
            dry_run(d, "carbon.retire_compliance")
            shoot(d, out, "portal-dry-run-ok")
            submit(d)
            shoot(d, out, "portal-committed")

            # the owner's plot registration from a GeoJSON file
            d.get(owner + "/forms/carbon.register_plot?lang=zh")
            wait_for(d, "input[name='geojson__file']")
            shoot(d, out, "portal-register-plot-form-zh")
            geojson = tmp / "plot.geojson"
            geojson.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": {
                "type": "Polygon", "coordinates": [PLOT]}}), encoding="utf-8")
            d.find_element(By.NAME, "geojson__file").send_keys(str(geojson))
            fill(d, {"plot_id": "XN-SF-09", "declared_area_ha": declared_ha(geojson),
                     "county_code": "341022", "tenure.doc_type": "forest_right_cert",
                     "tenure.doc_number": "皖(2019)休宁县不动产权第0012号",
                     "tenure.scan_sha256": "ab" * 32, "species": "chinese_fir",
                     "planting_date": "2016-03-15", "non_forest_evidence.sha256": "cd" * 32,
                     "non_forest_evidence.years": "10"})
            dry_run(d, "carbon.register_plot")
            wait_for(d, ".plot-check")
            shoot(d, out, "portal-register-plot-dry-run-zh")
        finally:
            d.quit()
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        devnet.send_signal(signal.SIGTERM)
        try:
            devnet.wait(timeout=60)
        except subprocess.TimeoutExpired:
            devnet.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fcl-portal-shots-") as tmp:
        take(Path(tmp), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
