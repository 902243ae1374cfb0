"""The console in a real browser (Debian's chromium driven by Playwright) against a real
stack: plant, executive, payload and ground as processes in lockstep, the console as its
own ``aisat console`` process. Clicks through what an operator does during a pass.

Chromium comes from Debian (``apt-get install chromium``; ``.ci/run`` installs it);
Playwright never downloads a browser. Screenshots go to the test's temporary directory,
and to ``$AISAT_CONSOLE_SCREENSHOT`` when set (that is how docs/console.png is made).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hil.stack import Stack
from tests.procs import stop

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = os.environ.get("AISAT_CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
WAIT_MS = 90_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def console_url(stack: Stack,  # the e2e stack (tests/conftest.py): lockstep, before a pass
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = open(tmp_path_factory.mktemp("console-log") / "console.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aisat", "console", "--run-dir", str(stack.info.run_dir),
         "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    assert reply.status == 200
                break
            except OSError:
                assert proc.poll() is None, "aisat console exited at start"
                assert time.monotonic() < deadline, "aisat console did not answer in 30 s"
                time.sleep(0.2)
        yield url
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), (
        f"no chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM,
                               args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page(browser: Browser, console_url: str) -> Iterator[Page]:
    pg = browser.new_page(viewport={"width": 1500, "height": 1250})
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(console_url)
    yield pg
    assert errors == [], f"script errors on the page: {errors}"
    pg.close()


def send(page: Page, name: str, confirm: bool = False, **fields: str | bool) -> int:
    """Fill the command form as an operator would and press Send (and, for a hazardous
    command, confirm it in the dialog); the command's number."""
    page.select_option("#cmd-name", name)
    for arg, value in fields.items():
        field = page.locator(f"#cmd-args [name={arg}]")
        if isinstance(value, bool):
            field.set_checked(value)
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    before = page.locator("#cmd-sent").get_attribute("data-cmd")
    page.click("#cmd-send")
    if confirm:
        expect(page.locator("#confirm-dialog")).to_be_visible()
        page.click("#confirm-ok")
    return new_command(page, before)


def new_command(page: Page, before: str | None) -> int:
    """The number of the command the form sent after ``before`` (waits for it)."""
    page.wait_for_function(
        "b => { const v = document.getElementById('cmd-sent').dataset.cmd;"
        " return v !== undefined && v !== b; }", arg=before, timeout=10_000)
    return int(page.locator("#cmd-sent").get_attribute("data-cmd") or -1)


def shoot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("AISAT_CONSOLE_SCREENSHOT")
    if target and name == "overview":
        shutil.copy(path, target)
    return path


def test_overview_shows_live_values_during_the_pass(page: Page, tmp_path: Path) -> None:
    expect(page.locator("#link-badge")).to_contain_text("in contact", timeout=WAIT_MS)
    battery = page.locator('#overview .card[data-point="power.battery_soc_pct"] .v')
    expect(battery).to_have_text(re.compile(r"^\d+\.\d+ %$"), timeout=WAIT_MS)
    expect(page.locator('#overview .card[data-point="mode.current"] .v')).not_to_have_text("--")
    expect(page.locator("#clock")).to_contain_text("UTC")
    row = page.locator('#tlm tr[data-point="power.battery_soc_pct"]')
    expect(row).to_have_class(re.compile(r"\brow-(ok|yellow|red)\b"), timeout=20_000)
    expect(row).not_to_have_class(re.compile(r"\bstale\b"))
    shoot(page, tmp_path, "overview-early")


def test_a_command_goes_through_every_verification_stage(page: Page) -> None:
    seq = send(page, "exec.noop")
    row = page.locator(f'#commands tr[data-cmd="{seq}"]')
    expect(row).to_have_attribute("data-stage", "completed", timeout=WAIT_MS)
    for stage in ("queued", "sent", "received", "accepted", "started", "completed"):
        expect(row.locator(f'.stage.done[data-stage="{stage}"]')).to_have_count(1)


def test_an_invalid_argument_is_refused_with_the_valid_range(page: Page) -> None:
    page.select_option("#cmd-name", "exec.hk_period_set")
    page.fill("#cmd-args [name=period_s]", "600")
    page.click("#cmd-send")
    expect(page.locator("#cmd-error")).to_contain_text("period_s")


def test_a_hazardous_command_asks_for_confirmation(page: Page) -> None:
    page.select_option("#cmd-name", "schedule.clear")
    page.click("#cmd-send")
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text("hazardous")
    page.click("#confirm-cancel")
    expect(page.locator("#cmd-error")).to_have_text("not sent: not confirmed")
    before = page.locator("#cmd-sent").get_attribute("data-cmd")
    page.click("#cmd-send")
    page.click("#confirm-ok")
    seq = new_command(page, before)
    expect(page.locator(f'#commands tr[data-cmd="{seq}"]')).to_have_attribute(
        "data-stage", "completed", timeout=WAIT_MS)


def test_plots_render_numbers_and_modes(page: Page) -> None:
    page.select_option("#plot-point", "power.battery_soc_pct")
    line = page.locator("#plot path.line")
    expect(line).to_have_count(1, timeout=20_000)
    expect(page.locator("#plot-info")).to_contain_text("samples", timeout=20_000)
    drawn = (line.get_attribute("d") or "").count("L")
    assert drawn >= 5, f"a plot of a point sampled for a while has only {drawn} segments"
    page.select_option("#plot-point", "mode.current")
    expect(page.locator("#plot text", has_text="COMPUTE").or_(
        page.locator("#plot text", has_text="NOMINAL")).first).to_be_visible(timeout=20_000)
    page.select_option("#plot-point", "power.battery_soc_pct")


def test_an_alarm_latches_and_is_acknowledged(page: Page, tmp_path: Path) -> None:
    # a watchpoint that trips at once: battery above 1 % raises limits.tripped (WARNING_HI)
    seq = send(page, "limits.wp_set", wp_id="40", point="power.battery_soc_pct", kind="above",
               low="0", high="1", persistence="1", action="event", target="", enabled=True)
    expect(page.locator(f'#commands tr[data-cmd="{seq}"]')).to_have_attribute(
        "data-stage", "completed", timeout=WAIT_MS)
    alarm = page.locator("#alarms li:not(.acked)", has_text="limits.tripped")
    expect(alarm).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#alarm-badge")).not_to_have_text("alarms 0")
    page.select_option("#ev-severity", "WARNING_HI")
    expect(page.locator('#events li[data-event="limits.tripped"]').first).to_be_visible(
        timeout=20_000)
    severities = page.locator("#events .sev").all_inner_texts()
    assert severities and set(severities) <= {"WARNING_HI", "FATAL"}, severities
    page.select_option("#ev-severity", "")
    shoot(page, tmp_path, "overview")
    send(page, "limits.wp_delete", confirm=True, wp_id="40")  # hazardous: asks first
    alarm.locator("button.ack").click()
    expect(page.locator("#alarms li.acked", has_text="limits.tripped").first).to_be_visible()
    expect(page.locator("#alarms li:not(.acked)", has_text="limits.tripped")).to_have_count(
        0, timeout=10_000)


def test_a_time_tagged_command_is_listed_onboard_and_deleted(page: Page) -> None:
    clock = page.locator("#clock").inner_text()  # "SC 2025-06-22 09:04:55 UTC"
    now = datetime.strptime(clock[3:22], "%Y-%m-%d %H:%M:%S")
    page.fill("#cmd-at", (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S"))
    seq = send(page, "exec.noop")
    page.fill("#cmd-at", "")
    row = page.locator(f'#commands tr[data-cmd="{seq}"]')
    expect(row).to_contain_text(" at ")
    expect(row.locator('.stage.done[data-stage="accepted"]')).to_have_count(1, timeout=WAIT_MS)
    page.click("#sched-list")
    expect(page.locator("#schedule-note")).to_contain_text(f"#{seq} exec.noop", timeout=WAIT_MS)
    deleted = send(page, "schedule.delete", cmd_seq=str(seq))
    expect(page.locator(f'#commands tr[data-cmd="{deleted}"]')).to_have_attribute(
        "data-stage", "completed", timeout=WAIT_MS)


def test_an_operator_job_shows_its_downlinked_tiles(page: Page, tmp_path: Path) -> None:
    seq = send(page, "jobs.capture", n_tiles="8", priority="5", deadline_s="0", tiles=True)
    expect(page.locator(f'#commands tr[data-cmd="{seq}"]')).to_have_attribute(
        "data-stage", "completed", timeout=WAIT_MS)
    tile = page.locator("#jobs .tiles img").first
    expect(tile).to_be_visible(timeout=WAIT_MS)
    page.wait_for_function("img => img.complete && img.naturalWidth === 32",
                           arg=tile.element_handle(), timeout=20_000)
    page.locator("#payload-panel").screenshot(path=str(tmp_path / "jobs.png"))
