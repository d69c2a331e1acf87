"""The participants' portal end to end in headless Chromium, against a real network.

The network is a real ``fcl devnet`` (one validator, as a subprocess: the node process
serves the API and the explorer over HTTP, the sample lifecycle runs first), and each role
has its own ``fcl portal`` process pointed at it, as the README tells a person to start
one: the farm's forester, the two verification bodies, the regulator, the exchange's
matching engine, the cement maker's compliance clerk and the fund. Selenium drives
Debian's Chromium through every form by typing, choosing files and clicking -- no JSON is
typed anywhere.

1. **The README path** (issue 14, "Done when"): the forester submits a monitoring report
   of the sample's project: the plots come from the ledger, the end volumes are typed in
   their rows, *Calculate* shows the figures step by step and fills in the claim, the dry
   run accepts it, it is signed and committed. The clerk retires credits against the
   2025 obligation (picked from the panel that shows it) and downloads the certificate,
   which ``fcl verify`` accepts offline. A retirement over the obligation's room is
   refused in plain language and nothing is submitted.
2. **The lifecycle**: a plot from a GeoJSON file (map preview, area check), a PDD with its
   document (hash computed in the portal), validation beside the same document (the
   hashes agree), registration picked from the regulator's pending list; the report of
   (1) verified beside its document and issued (picked from the verified list); a
   listing and a matched trade (picked from the exchange's open listings); a two-party
   transfer (the forester signs and exports the file, the fund imports, co-signs,
   submits); a voluntary retirement and a compliance retirement, each certificate
   downloaded.

Without the browser the tests skip with the reason; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fcl.devnet.sample import PLOTS, PROJECT_ID
from tests.support.browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, browser_missing
from tests.support.devnet import ServingDevnet, child_env, free_base_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: the keystore names (DIR/wallet/NAME.json) of the people taking part, by role
PEOPLE = {
    "owner": "xiuning-farm-forester",
    "validator": "ecfv-admin",
    "verifier": "hlcert-admin",
    "regulator": "regulator",
    "exchange": "ahcee-matching",
    "clerk": "wanjiang-cement-clerk",
    "fund": "huangshan-fund-admin",
}
#: a ~11 ha plot north-east of the sample's (decimal degrees, WGS 84)
NEW_PLOT = [[118.1800, 29.7900], [118.1835, 29.7902], [118.1838, 29.7931],
            [118.1812, 29.7935], [118.1797, 29.7918], [118.1800, 29.7900]]
NEW_PROJECT = "AH-XN-0002"
REPORT_ID = "MR-XN-2026Q4"


def portal_argv() -> list[str]:
    script = Path(sys.executable).with_name("fcl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "fcl"]


@dataclass
class World:
    node: str
    data: Path
    passphrase: str
    portals: dict[str, str]
    downloads: Path
    driver: Any
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def pub(self, who: str) -> str:
        doc = json.loads((self.data / "wallet" / f"{PEOPLE[who]}.json").read_text("utf-8"))
        return str(doc["public_key"])

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(self.node + "/v1/status", timeout=10).json())

    def height(self) -> int:
        return int(self.status()["height"])

    def get(self, path: str) -> Any:
        return httpx.get(self.node + path, timeout=10).json()


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def make_driver(profile: str, downloads: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reason = browser_missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run under CI: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("portal-e2e")
    data = root / "devnet"
    base = free_base_port()
    node = f"http://127.0.0.1:{base}"  # node0 serves its API on the base port
    serving = ServingDevnet(data, base, extra=("--validators", "1"))
    procs: list[subprocess.Popen[str]] = []
    downloads = root / "downloads"
    downloads.mkdir()
    try:
        with tempfile.TemporaryDirectory(prefix="fcl-portal-chromium-") as profile:
            driver = make_driver(profile, downloads)  # while the devnet starts
            try:
                # the portals start once the keys exist, while the sample runs
                serving.wait_line("unlocking", timeout_s=240)
                ports = free_base_port(len(PEOPLE))
                portals = {}
                for i, (who, name) in enumerate(PEOPLE.items()):
                    procs.append(subprocess.Popen(
                        [*portal_argv(), "portal", "--node", node, "--keystore",
                         str(data / "wallet" / f"{name}.json"), "--port", str(ports + i)],
                        env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, text=True))
                    portals[who] = f"http://127.0.0.1:{ports + i}"
                assert serving.wait_ready(timeout_s=240).removesuffix("/explorer/") == node
                for url in portals.values():
                    wait_http(url + "/")
                passphrase = (data / "passphrase").read_text("utf-8").strip()
                yield World(node, data, passphrase, portals, downloads, driver, procs)
            finally:
                driver.quit()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        code = serving.stop()
    assert code == 0, "\n".join(serving.lines[-30:])


# -- driving the pages ---------------------------------------------------------------------
def css(d: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(d.find_elements(By.CSS_SELECTOR, selector))


def wait_for(d: Any, selector: str, timeout_s: float = 40) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, timeout_s).until(lambda drv: css(drv, selector))
    return css(d, selector)[0]


def fill(d: Any, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, value in values.items():
        element = d.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        elif element.get_attribute("type") == "file":
            element.send_keys(value)
        else:
            element.clear()
            element.send_keys(value)


def value_of(d: Any, name: str) -> str:
    from selenium.webdriver.common.by import By

    return str(d.find_element(By.NAME, name).get_attribute("value"))


def click(d: Any, selector: str) -> None:
    css(d, selector)[0].click()


def unlock(w: World, who: str) -> str:
    """Unlock ``who``'s portal (the devnet's passphrase typed on the page); its base URL."""
    base = w.portals[who]
    w.driver.get(base + "/?lang=en")
    if not css(w.driver, "form[action='/lock']"):
        fill(w.driver, {"passphrase": w.passphrase})
        click(w.driver, "form[action='/unlock'] button")
        wait_for(w.driver, "form[action='/lock']")
    return base


def open_form(w: World, who: str, key: str, query: str = "") -> None:
    base = unlock(w, who)
    w.driver.get(f"{base}/forms/{key}{query}")
    wait_for(w.driver, f"form[action='/forms/{key}']")


def dry_run(w: World, key: str) -> None:
    click(w.driver, f"form[method=post][action='/forms/{key}'] button:not([name])")
    wait_for(w.driver, "p.ok[role=status], .refused")


def sign_and_submit(w: World) -> None:
    """The dry run accepted: sign and submit; wait for the committed result."""
    assert css(w.driver, "p.ok[role=status]"), page_text(w)
    click(w.driver, "form[action$='/submit'] button")
    wait_for(w.driver, "a.explorer")
    assert css(w.driver, "p.ok[role=status]"), page_text(w)


def page_text(w: World) -> str:
    return str(w.driver.find_element("tag name", "main").text)


def use_row(w: World, contains: str) -> None:
    """Click the Use link of the panel row that mentions ``contains``."""
    for row in css(w.driver, "#picks tr"):
        if contains in row.text and css(row, "a.use"):
            css(row, "a.use")[0].click()
            return
    raise AssertionError(f"no panel row with {contains!r}: {page_text(w)}")


def downloaded(w: World, name_re: str, timeout_s: float = 20) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in w.downloads.iterdir():
            if re.fullmatch(name_re, path.name):
                return path
        time.sleep(0.2)
    raise AssertionError(f"no download {name_re} in {sorted(os.listdir(w.downloads))}")


def write(w: World, name: str, data: bytes) -> str:
    path = w.downloads.parent / name
    path.write_bytes(data)
    return str(path)


def block_date(w: World, days_before: int = 0) -> str:
    """The latest block's date (China time, the ledger's dates), less ``days_before``."""
    ms = int(w.status()["latest_block_time"])
    day = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone(datetime.timedelta(
        hours=8))).date()
    return (day - datetime.timedelta(days=days_before)).isoformat()


# -- 1. the README path ------------------------------------------------------------------------
def test_readme_path_owner_reports_with_the_calculator(world: World) -> None:
    w, d = world, world.driver
    open_form(w, "owner", "carbon.submit_monitoring_report")
    # the only project of the farm is chosen; its plots come from the ledger, in rows
    rows = {r.get_attribute("data-plot") for r in css(d, "#report-rows tr[data-plot]")}
    assert rows == {p.plot_id for p in PLOTS}
    assert value_of(d, "project_id") == PROJECT_ID
    assert value_of(d, "period_start") == "2026-10-01"  # the day after the last period
    end = block_date(w, days_before=1)
    assert end > "2026-10-01", "the devnet's clock is before the sample's last period"
    values = {"report_id": REPORT_ID, "period_end": end}
    for i, plot in enumerate(PLOTS):
        assert value_of(d, f"m{i}.plot_id") == plot.plot_id
        values[f"m{i}.volume_end"] = str(round(float(plot.volumes[-1]) * 1.02, 1))
    fill(d, values)
    click(d, "button[name=calculate]")
    wait_for(d, "#calc-steps, .refused")
    text = page_text(w)
    assert css(d, "#calc-steps"), text
    for step in ("Step 1", "Step 3", "Step 4"):
        assert step in text
    issuable = int(str(css(d, "#calc-issuable")[0].get_attribute("data-issuable")))
    assert issuable > 0
    assert value_of(d, "claimed_issuable") == str(issuable)  # filled in from the figures
    assert value_of(d, "m0.volume_end") == values["m0.volume_end"]  # kept
    fill(d, {"report_sha256__file": write(w, "report-2026q4.pdf", b"%PDF-1.7 MR-XN-2026Q4")})
    height = w.height()
    dry_run(w, "carbon.submit_monitoring_report")
    assert css(d, "#calc-steps") and w.height() == height  # figures again; nothing sent
    sign_and_submit(w)
    report = w.get(f"/v1/explorer/reports/{REPORT_ID}")["report"]
    assert report["claimed_issuable"] == issuable and report["status"] == "submitted"
    assert [m["volume_end"] for m in report["measurements"]] == [
        values[f"m{i}.volume_end"] for i in range(len(PLOTS))]


def test_readme_path_buyer_retires_and_downloads_the_certificate(world: World) -> None:
    w, d = world, world.driver
    open_form(w, "clerk", "carbon.retire_compliance")
    # the obligation with its cap and the room left, from the ledger
    row = next(r for r in css(d, "#picks tr") if r.text.startswith("2025"))
    assert "48000" in row.text and "2400" in row.text and "1400" in row.text
    assert css(d, "#held")[0].get_attribute("data-held") == "200"  # what it holds
    use_row(w, "2025")
    wait_for(d, "form[action='/forms/carbon.retire_compliance']")
    assert value_of(d, "period") == "2025" and value_of(d, "quantity") == "1400"
    # more than the clerk's organisation holds: refused in plain language, nothing sent
    height = w.height()
    dry_run(w, "carbon.retire_compliance")
    assert css(d, ".refused") and not css(d, "form[action$='/submit']")
    assert "would refuse" in page_text(w)
    assert w.height() == height
    open_form(w, "clerk", "carbon.retire_compliance", "?period=2025")
    fill(d, {"quantity": "100"})
    dry_run(w, "carbon.retire_compliance")
    sign_and_submit(w)
    check_certificate(w, "compliance")


def check_certificate(w: World, purpose: str) -> None:
    link = css(w.driver, "a.certificate")[0]
    rid = str(link.get_attribute("href")).rsplit("/", 1)[1]
    link.click()
    path = downloaded(w, rf"certificate-{rid}\.json")
    cert = json.loads(path.read_text("utf-8"))
    assert rid in path.read_text("utf-8") and cert
    done = subprocess.run([*portal_argv(), "verify", str(path), "--genesis",
                           str(w.data / "genesis.json")], capture_output=True, text=True,
                          timeout=60, env=child_env(), stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert purpose in (done.stdout + done.stderr).lower()


# -- 2. the lifecycle through the portals of every role ------------------------------------
def test_plot_from_geojson_pdd_validation_and_registration(world: World) -> None:
    w, d = world, world.driver
    geojson = write(w, "plot.geojson", json.dumps({
        "type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [NEW_PLOT]}}).encode())
    from chaincode.geometry import geodesic_area_m2_rational, parse_polygon
    from ledger.fixedpoint import format_decimal
    from wallet.builder import geojson_to_ledger, load_geojson

    area = geodesic_area_m2_rational(parse_polygon(geojson_to_ledger(
        load_geojson(Path(geojson).read_bytes()))))
    open_form(w, "owner", "carbon.register_plot")
    fill(d, {"geojson__file": geojson, "plot_id": "XN-T-01",
             "declared_area_ha": format_decimal(area / 10_000, 4), "county_code": "341022",
             "tenure.doc_type": "forest_right_cert", "tenure.doc_number": "休林证字(2016)第0099号",
             "tenure.scan_sha256__file": write(w, "tenure.pdf", b"%PDF-1.7 tenure scan XN-T-01"),
             "species": "chinese_fir", "planting_date": "2016-03-15",
             "non_forest_evidence.sha256__file": write(w, "landsat.tif", b"II*\x00 landsat XN-T-01"),
             "non_forest_evidence.years": "10"})
    dry_run(w, "carbon.register_plot")
    assert css(d, ".plot-check svg") and "within" in page_text(w).lower()
    sign_and_submit(w)

    pdd = write(w, "pdd.pdf", b"%PDF-1.7 project design document AH-XN-0002 v1.0")
    open_form(w, "owner", "carbon.submit_project")
    fill(d, {"project_id": NEW_PROJECT, "name": "休宁县杉木造林碳汇项目二期 Xiuning phase 2",
             "methodology": "CCER-14-001-V01", "plots": "XN-T-01", "start_date": "2016-03-01",
             "crediting_period_years": "30", "baseline": "0", "risk_rating": "low",
             "pdd_sha256__file": pdd, "comment_window.start_date": "2023-07-03",
             "comment_window.end_date": "2023-07-28"})
    dry_run(w, "carbon.submit_project")
    sign_and_submit(w)

    # the validation body picks the project and reviews the same PDD file
    open_form(w, "validator", "carbon.attest_validation")
    use_row(w, NEW_PROJECT)
    wait_for(d, "form[action='/forms/carbon.attest_validation']")
    assert value_of(d, "project_id") == NEW_PROJECT
    fill(d, {"attestation_id": "VAL-2026-XN2", "positive": "true",
             "site_visit_date": "2026-05-12", "pdd_sha256__file": pdd})
    dry_run(w, "carbon.attest_validation")
    assert css(d, "#hash-match")
    sign_and_submit(w)

    open_form(w, "regulator", "carbon.register_project")
    use_row(w, NEW_PROJECT)
    wait_for(d, "form[action='/forms/carbon.register_project']")
    dry_run(w, "carbon.register_project")
    sign_and_submit(w)
    assert w.get(f"/v1/explorer/projects/{NEW_PROJECT}")["project"]["status"] == "registered"


def test_verification_and_issuance_of_the_report(world: World) -> None:
    w, d = world, world.driver
    report = w.get(f"/v1/explorer/reports/{REPORT_ID}")["report"]
    open_form(w, "verifier", "carbon.attest_verification")
    use_row(w, REPORT_ID)
    wait_for(d, "form[action='/forms/carbon.attest_verification']")
    fill(d, {"attestation_id": "VER-HL-2026-Q4", "site_visit_date": block_date(w),
             "verified_quantity": str(report["claimed_issuable"]),
             "report_sha256__file": str(w.downloads.parent / "report-2026q4.pdf")})
    dry_run(w, "carbon.attest_verification")
    assert css(d, "#hash-match") and str(report["claimed_issuable"]) in page_text(w)
    sign_and_submit(w)

    open_form(w, "regulator", "carbon.issue")
    use_row(w, REPORT_ID)
    wait_for(d, "form[action='/forms/carbon.issue']")
    assert value_of(d, "batch_id") == f"{PROJECT_ID}-B2026"
    fill(d, {"batch_id": f"{PROJECT_ID}-B2026Q4"})
    dry_run(w, "carbon.issue")
    sign_and_submit(w)
    assert w.get(f"/v1/explorer/reports/{REPORT_ID}")["report"]["status"] == "issued"


def test_listing_matched_trade_and_a_two_party_transfer(world: World) -> None:
    w, d = world, world.driver
    open_form(w, "owner", "carbon.create_listing")
    fill(d, {"quantity": "40", "price": "61.50", "exchange_org": "ahcee",
             "project_id": PROJECT_ID})
    dry_run(w, "carbon.create_listing")
    sign_and_submit(w)

    open_form(w, "exchange", "carbon.match_trade")
    use_row(w, "61.50")
    wait_for(d, "form[action='/forms/carbon.match_trade']")
    assert value_of(d, "quantity") == "40"
    fill(d, {"buyer_org": "wanjiang-cement", "quantity": "30",
             "settlement_ref": "AHCEE-2026-T4-000101"})
    dry_run(w, "carbon.match_trade")
    sign_and_submit(w)

    # the forester prepares and signs the transfer; the fund co-signs it in its portal
    open_form(w, "owner", "carbon.transfer")
    assert value_of(d, "from_org") == "xiuning-farm"
    fill(d, {"to_org": "huangshan-fund", "quantity": "20", "project_id": PROJECT_ID,
             "price": "59.00", "settlement_ref": "OTC-XN-2026-0031",
             "co_signers": w.pub("fund")})
    dry_run(w, "carbon.transfer")
    assert css(d, "p.ok[role=status]") and not css(d, "form[action$='/submit']")
    height = w.height()
    click(d, "form[action$='/export'] button")
    wait_for(d, "a.download")
    click(d, "a.download")
    partial = downloaded(w, r"transfer-[0-9a-f]{8}\.fcl-partial\.json")
    assert w.height() == height  # one signature is not a transaction yet
    base = unlock(w, "fund")
    d.get(base + "/cosign")
    fill(d, {"partial__file": str(partial)})
    click(d, "form[action='/cosign'] button")
    wait_for(d, "p.ok[role=status], .refused")
    sign_and_submit(w)
    holdings = w.get("/v1/explorer/accounts/huangshan-fund?limit=1")["holdings"]
    assert holdings["projects"][PROJECT_ID]["held"] >= 20


def test_both_retirements_and_their_certificates(world: World) -> None:
    w, d = world, world.driver
    open_form(w, "fund", "carbon.retire_voluntary")
    use_row(w, PROJECT_ID)
    wait_for(d, "form[action='/forms/carbon.retire_voluntary']")
    fill(d, {"quantity": "5", "beneficiary": "黄山风景区 2026 visitors",
             "reason": "Offsets the scenic area's 2026 shuttle buses"})
    dry_run(w, "carbon.retire_voluntary")
    sign_and_submit(w)
    check_certificate(w, "voluntary")

    open_form(w, "clerk", "carbon.retire_compliance", "?period=2025")
    fill(d, {"quantity": "30", "project_id": PROJECT_ID})
    dry_run(w, "carbon.retire_compliance")
    sign_and_submit(w)
    check_certificate(w, "compliance")
