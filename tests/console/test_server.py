"""The console's endpoints against a real ground core: live values with limit colours and
staleness, latching alarms, plots, commanding, and a clear 4xx for every bad request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from flightsw.job_products import TILE_FORMAT
from flightsw.wire import Kind
from ground.console.alarms import ALARMS_FILE
from ground.console.backend import ConsoleBackend
from ground.console.server import MAX_BODY_BYTES, create_app
from ground.core import GroundCore

from .conftest import CSRF, T0, FakeGround, post


def test_page_carries_the_csrf_value_and_every_asset_ships(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert f'content="{CSRF}"' in page.text
    for asset in ("/static/console.js", "/static/console.css", "/static/favicon.svg"):
        assert client.get(asset).status_code == 200, asset
    assert "http" not in client.get("/static/console.js").text.split("svg", 1)[0].lower(), \
        "no asset may come from elsewhere"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert client.get("/api/nothing").headers["x-frame-options"] == "DENY"


def test_overview_and_table_colour_limits_and_mark_stale(ground: FakeGround,
                                                         client: TestClient) -> None:
    ground.tlm(T0 - 300, **{"thermal.radiator_temp_c": 3.0})  # old: stale later
    for t in range(4):  # housekeeping at 1 Hz
        ground.tlm(T0 - 4 + t, **{"exec.uptime_s": float(t)})
    ground.tlm(T0, **{"power.battery_soc_pct": 12.0, "power.battery_temp_c": 42.0,
                      "thermal.payload_temp_c": 30.0, "mode.current": "SAFE"})
    state = client.get("/api/state").json()
    assert state["ok"] and state["ground"]["in_contact"] is True
    ov = state["overview"]
    assert ov["power.battery_soc_pct"]["state"] == "red"  # red_low 15
    assert ov["power.battery_temp_c"]["state"] == "yellow"  # yellow_high 40
    assert ov["thermal.payload_temp_c"]["state"] == "ok"
    assert ov["mode.current"]["value"] == "SAFE" and not ov["mode.current"]["stale"]
    assert ov["thermal.radiator_temp_c"]["stale"] is True
    assert ov["payload.state"]["state"] == "none" and ov["payload.state"]["stale"]
    table = {p["name"]: p for p in client.get("/api/telemetry").json()["points"]}
    assert table["power.battery_soc_pct"]["limits"] == {"red_low": 15.0, "yellow_low": 25.0}
    assert table["thermal.radiator_temp_c"]["age_s"] == pytest.approx(300.0)


def test_red_limits_and_serious_events_latch_until_acknowledged(ground: FakeGround,
                                                                client: TestClient) -> None:
    ground.tlm(T0, **{"power.battery_soc_pct": 12.0})
    ground.event(T0, "payload.died", "WARNING_HI", "Payload #1 down: crash")
    ground.event(T0, "mode.changed", "ACTIVITY_HI", "Mode NOMINAL -> SAFE")
    alarms = client.get("/api/state").json()["alarms"]
    assert sorted(a["key"] for a in alarms) == ["event:payload.died",
                                                "limit:power.battery_soc_pct"]
    ground.tlm(T0 + 1, **{"power.battery_soc_pct": 60.0})  # recovered by itself
    state = client.get("/api/state").json()
    limit = next(a for a in state["alarms"] if a["source"] == "limit")
    assert state["unacknowledged"] == 2 and limit["active"] is False
    reply = post(client, f"/api/alarms/{limit['id']}/ack", {"by": "ops-anna"})
    assert reply.status_code == 200 and reply.json()["alarm"]["acked_by"] == "ops-anna"
    assert client.get("/api/state").json()["unacknowledged"] == 1
    missing = post(client, "/api/alarms/999/ack", {})
    assert missing.status_code == 422 and missing.json()["error"] == "no such alarm"
    # acknowledgements survive a console restart; old events do not alarm again
    saved = json.loads((ground.run_dir / ALARMS_FILE).read_text())
    assert any(a["acked"] for a in saved["alarms"])
    again = ConsoleBackend(ground.run_dir).state()
    assert again["unacknowledged"] == 1


def test_a_damaged_alarm_book_is_kept_aside_and_reported(ground: FakeGround) -> None:
    (ground.run_dir / ALARMS_FILE).write_text("{not json")
    state = ConsoleBackend(ground.run_dir).state()
    assert [a["name"] for a in state["alarms"]] == ["console.alarm_book_damaged"]
    assert (ground.run_dir / "console_alarms.damaged").read_text() == "{not json"


def test_series_is_decimated_and_windowed(ground: FakeGround, client: TestClient) -> None:
    def fill(core: GroundCore) -> None:  # one commit for 3,000 records
        for i in range(3000):
            temp = 95.0 if i == 1234 else 20.0 + (i % 10)
            frame = ground.seq.pack(Kind.TELEMETRY, T0 - 3000 + i,
                                    {"points": {"thermal.payload_temp_c": temp}})
            core.mission.on_frame(frame, T0)
        core.archive.set_mission_now(T0)
        core.archive.flush(meta_only_too=True)
    ground.do(fill)
    full = client.get("/api/series", params={"point": "thermal.payload_temp_c",
                                             "buckets": 100}).json()
    assert full["raw_count"] == 3000 and len(full["t"]) <= 400
    assert max(full["v"]) == 95.0 and full["units"] == "C"
    recent = client.get("/api/series", params={"point": "thermal.payload_temp_c",
                                               "window_s": 600}).json()
    assert recent["raw_count"] == 600 and min(recent["t"]) >= T0 - 600


@pytest.mark.parametrize(("query", "status", "reason"), [
    ({}, 400, "point is required"),
    ({"point": "no.such"}, 422, "unknown telemetry point"),
    ({"point": "mode.current", "buckets": "0"}, 400, "buckets must be in"),
    ({"point": "mode.current", "buckets": "x"}, 400, "buckets must be an integer"),
    ({"point": "mode.current", "window_s": "nan"}, 400, "window_s must be a finite"),
    ({"point": "mode.current", "window_s": "5", "t0": "1"}, 400, "either window_s"),
    ({"point": "mode.current", "t0": "10", "t1": "5"}, 400, "t1 must be after t0"),
])
def test_bad_series_requests_say_why(client: TestClient, query: dict[str, str], status: int,
                                     reason: str) -> None:
    reply = client.get("/api/series", params=query)
    assert reply.status_code == status and reason in reply.json()["error"]


def test_event_log_filters_by_severity(ground: FakeGround, client: TestClient) -> None:
    ground.event(T0, "a.low", "ACTIVITY_LO", "low")
    ground.event(T0 + 1, "a.warn", "WARNING_LO", "warn")
    ground.event(T0 + 2, "a.hi", "WARNING_HI", "hi")
    names = [e["name"] for e in client.get("/api/events",
                                           params={"min_severity": "WARNING_LO"}).json()["events"]]
    assert names == ["a.warn", "a.hi"]
    after = client.get("/api/events").json()["events"][-1]["id"]
    assert client.get("/api/events", params={"after_id": after}).json()["events"] == []
    bad = client.get("/api/events", params={"min_severity": "LOUD"})
    assert bad.status_code == 422 and "FATAL" in bad.json()["valid"]
    assert client.get("/api/events", params={"limit": "0"}).status_code == 400


def test_commanding_validates_confirms_queues_and_cancels(client: TestClient) -> None:
    sent = post(client, "/api/commands", {"name": "exec.noop", "args": {}})
    assert sent.status_code == 200
    cmd = sent.json()["command"]
    assert cmd["stage"] == "queued"  # no flight connected: it waits at the ground
    assert client.get(f"/api/commands/{cmd['cmd_seq']}").json()["command"]["name"] == "exec.noop"
    hazardous = post(client, "/api/commands", {"name": "schedule.clear", "args": {}})
    assert hazardous.status_code == 428
    assert hazardous.json()["error"] == "hazardous command: confirm it"
    confirmed = post(client, "/api/commands", {"name": "schedule.clear", "args": {},
                                               "confirm": True})
    assert confirmed.status_code == 200
    bad = post(client, "/api/commands", {"name": "mode.set", "args": {"mode": "WARP"}})
    assert bad.status_code == 422 and "SAFE" in json.dumps(bad.json())
    unknown = post(client, "/api/commands", {"name": "no.such", "args": {}})
    assert unknown.status_code == 422 and "exec.noop" in unknown.json()["valid"]
    cancelled = post(client, f"/api/commands/{cmd['cmd_seq']}/cancel", {})
    assert cancelled.status_code == 200 and cancelled.json()["command"]["stage"] == "failed"
    twice = post(client, f"/api/commands/{cmd['cmd_seq']}/cancel", {})
    assert twice.status_code == 422 and twice.json()["error"] == "already finished"
    listed = client.get("/api/commands").json()["commands"]
    assert [c["name"] for c in listed] == ["schedule.clear", "exec.noop"]
    assert client.get("/api/commands/99999").status_code == 422
    nonsense = post(client, f"/api/commands/{cmd['cmd_seq']}/launch", {})
    assert nonsense.status_code == 404 and nonsense.json()["valid"] == ["cancel", "hold",
                                                                       "release"]
    assert client.get("/api/commands/-1").status_code == 400


@pytest.mark.parametrize(("body", "status", "reason"), [
    ([1, 2], 400, "must be a JSON object"),
    ({"name": 5}, 400, "name must be a command name"),
    ({"name": "exec.noop", "args": []}, 400, "args must be a JSON object"),
    ({"name": "exec.noop", "at_s": "soon"}, 400, "at_s must be a mission time"),
    ({"name": "exec.noop", "at_s": -5}, 400, "at_s must be a mission time"),
    ({"name": "exec.noop", "confirm": "yes"}, 400, "confirm must be true or false"),
    ({"name": "exec.noop", "token": "x"}, 400, "unknown fields"),
    ({"name": "exec.noop", "args": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}, 400,
     "nested deeper"),
])
def test_bad_command_bodies_say_why(client: TestClient, body: object, status: int,
                                    reason: str) -> None:
    reply = post(client, "/api/commands", body)
    assert reply.status_code == status and reason in reply.json()["error"]


def test_posts_need_the_csrf_header_json_and_our_host(client: TestClient) -> None:
    body = {"name": "exec.noop", "args": {}}
    no_csrf = client.post("/api/commands", json=body)
    assert no_csrf.status_code == 403 and "X-Aisat-Csrf" in no_csrf.json()["error"]
    wrong = client.post("/api/commands", json=body, headers={"X-Aisat-Csrf": "guess"})
    assert wrong.status_code == 403
    form = client.post("/api/commands", content=b"name=exec.noop",
                       headers={"X-Aisat-Csrf": CSRF,
                                "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    rebound = client.get("/api/state", headers={"Host": "evil.example:8080"})
    assert rebound.status_code == 421
    not_json = client.post("/api/commands", content=b"{", headers={
        "X-Aisat-Csrf": CSRF, "Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"] == "body is not JSON"
    huge = client.post("/api/commands", content=b" " * (MAX_BODY_BYTES + 1), headers={
        "X-Aisat-Csrf": CSRF, "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert client.get("/api/nothing").status_code == 404
    assert client.delete("/api/commands").status_code in (405, 403)


def test_a_ground_that_is_down_is_reported_not_crashed(ground: FakeGround,
                                                       client: TestClient) -> None:
    ground.tlm(T0, **{"power.battery_soc_pct": 80.0})
    ground.close()
    state = client.get("/api/state")
    assert state.status_code == 200
    assert "does not answer" in state.json()["ground_error"]
    assert state.json()["overview"]["power.battery_soc_pct"]["value"] == 80.0  # archive
    sent = post(client, "/api/commands", {"name": "exec.noop", "args": {}})
    assert sent.status_code == 503 and "does not answer" in sent.json()["error"]


def test_remote_console_needs_the_token(ground: FakeGround) -> None:
    app = create_app(ConsoleBackend(ground.run_dir), "0.0.0.0", 8080, token="tok3n",
                     csrf=CSRF)
    with TestClient(app, base_url="http://10.0.0.7:8080") as c:
        assert c.get("/api/state").status_code == 401
        page = c.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert c.post("/login", data={"token": "nope"}).status_code == 403
        signed = c.post("/login", data={"token": "tok3n"}, follow_redirects=False)
        assert signed.status_code == 303
        assert "httponly" in signed.headers["set-cookie"].lower()
        assert "samesite=strict" in signed.headers["set-cookie"].lower()
        assert c.get("/api/state").status_code == 200


def test_passes_and_products(ground: FakeGround, client: TestClient) -> None:
    for i, inside in enumerate([False, True, True, True, False, True]):
        ground.tlm(T0 + 10 * i, **{"link.in_contact": inside,
                                   "link.station": "Svalbard" if inside else ""})
    ground.downlink(Kind.RESULT,
                    {"jobs": 3, "tiles": 48, "job_ids": [1, 2, 3]}, T0)
    passes = client.get("/api/passes").json()["passes"]
    assert [(p["aos_s"] - T0, p["los_s"] - T0, p["station"]) for p in passes
            if not p["predicted"]] == [(10, 30, "Svalbard"), (50, 50, "Svalbard")]
    [product] = client.get("/api/products").json()["products"]
    assert product["tiles"] == 48 and product["job_ids"] == [1, 2, 3]
    assert client.get("/api/products", params={"limit": "100000"}).status_code == 400


JSONS = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSONS | st.fixed_dictionaries({"name": st.sampled_from(
    ["exec.noop", "mode.set", "payload.throttle_cap", "schedule.clear", "limits.wp_set"]),
    "args": st.dictionaries(st.sampled_from(["mode", "level_pct", "wp_id", "x"]), JSONS)}))
def test_fuzzed_command_bodies_get_a_clear_4xx_or_are_queued(client: TestClient,
                                                             body: object) -> None:
    reply = post(client, "/api/commands", body)
    data = reply.json()
    assert reply.status_code in (200, 400, 422, 428), (reply.status_code, data)
    assert data["ok"] is (reply.status_code == 200)
    if not data["ok"]:
        assert isinstance(data["error"], str) and data["error"]


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/api/series", "/api/events", "/api/products"]),
       params=st.dictionaries(st.sampled_from(["point", "buckets", "window_s", "t0", "t1",
                                               "min_severity", "limit", "after_id"]),
                              st.text(max_size=12) | st.integers().map(str), max_size=4))
def test_fuzzed_queries_get_a_clear_4xx_or_an_answer(client: TestClient, path: str,
                                                     params: dict[str, str]) -> None:
    reply = client.get(path, params=params)
    assert reply.status_code in (200, 400, 422), (reply.status_code, reply.text)
    assert reply.json()["ok"] is (reply.status_code == 200)


def test_cli_refuses_a_non_loopback_bind_without_a_token(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    from aisat.cli import main

    assert main(["console", "--run-dir", str(tmp_path), "--host", "0.0.0.0"]) == 2
    assert "needs the ground's ops token" in capsys.readouterr().err


def test_cli_says_so_when_the_port_is_taken(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from aisat.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["console", "--run-dir", str(tmp_path), "--port", str(port)]) == 2
    out = capsys.readouterr()
    assert f"cannot serve on 127.0.0.1:{port}" in out.err and "http://" not in out.out


def test_a_stopped_run_is_shown_from_its_archive(ground: FakeGround) -> None:
    ground.tlm(T0, **{"power.battery_soc_pct": 55.0})
    ground.close()
    (ground.run_dir / "stack.json").unlink()  # the launcher removes it at the end
    ground.archive_path.rename(ground.run_dir / "archive.sqlite")
    app = create_app(ConsoleBackend(ground.run_dir), "127.0.0.1", 8080, csrf=CSRF)
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        state = c.get("/api/state").json()
        assert "stopped run" in state["ground_error"]
        assert state["overview"]["power.battery_soc_pct"]["value"] == 55.0
        assert c.get("/api/series", params={"point": "power.battery_soc_pct"}).json()["v"] \
            == [55.0]
        sent = post(c, "/api/commands", {"name": "exec.noop", "args": {}})
        assert sent.status_code == 503 and "stopped run" in sent.json()["error"]
    (ground.run_dir / "archive.sqlite").unlink()
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        reply = c.get("/api/telemetry")
        assert reply.status_code == 503 and "no archive of a stopped run" in reply.json()["error"]


def test_a_live_plot_sees_samples_added_since_its_last_refresh(ground: FakeGround,
                                                               client: TestClient) -> None:
    ground.tlm(T0, **{"power.array_power_w": 10.0})
    params = {"point": "power.array_power_w"}
    assert client.get("/api/series", params=params).json()["v"] == [10.0]
    ground.tlm(T0 + 1, **{"power.array_power_w": 12.5})
    ground.tlm(T0 - 5, **{"power.array_power_w": 7.0})  # played back late: still in order
    assert client.get("/api/series", params=params).json()["v"] == [7.0, 10.0, 12.5]


def test_a_console_bound_beyond_loopback_serves_nothing_without_the_token(
        tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    token = tmp_path / "ops.token"
    token.write_text("f00d\n")
    token.chmod(0o600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "aisat", "console", "--run-dir",
                             str(tmp_path), "--host", "0.0.0.0", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        assert f"http://0.0.0.0:{port}/" in proc.stdout.readline()
        url = f"http://127.0.0.1:{port}/api/state"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                raise AssertionError("answered without the token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                assert "ops token" in json.loads(exc.read())["error"]
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "console did not answer"
                time.sleep(0.1)
        req = urllib.request.Request(url, headers={"Cookie": "aisat_console=f00d"})
        with urllib.request.urlopen(req, timeout=5) as reply:
            assert reply.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_waiting_command_is_held_released_and_cancelled(client: TestClient) -> None:
    cmd = post(client, "/api/commands", {"name": "exec.noop", "args": {}}).json()["command"]
    seq = cmd["cmd_seq"]
    held = post(client, f"/api/commands/{seq}/hold", {})
    assert held.status_code == 200 and held.json()["command"]["stage"] == "held"
    again = post(client, f"/api/commands/{seq}/hold", {})
    assert again.status_code == 422 and again.json()["error"]
    released = post(client, f"/api/commands/{seq}/release", {})
    assert released.status_code == 200 and released.json()["command"]["stage"] == "queued"
    assert post(client, f"/api/commands/{seq}/cancel", {}).json()["command"]["stage"] == \
        "failed"
    assert client.get("/api/commands").json()["commands"][0]["stage"] == "failed"


def test_bench_console_times_every_request_on_a_run(ground: FakeGround,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from hil.bench import main

    for i in range(5):
        ground.tlm(T0 + i, **{"power.battery_soc_pct": 50.0 + i, "mode.current": "SAFE"})
    assert main(["console", "--run-dir", str(ground.run_dir), "--repeats", "2",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["requests"]) == 8 and result["archive_rows"]["telemetry"] == 5
    plot = result["requests"][3]
    assert plot["request"].startswith("/api/series?point=power.battery_soc_pct")
    assert plot["samples"] == 5 and plot["median_ms"] > 0
    assert main(["console", "--run-dir", str(ground.run_dir / "nowhere")]) == 2
    assert "no archive of a stopped run" in capsys.readouterr().err


def test_operator_jobs_and_their_downlinked_tiles(ground: FakeGround,
                                                  client: TestClient) -> None:
    import base64
    import zlib

    pixels = bytes(range(256)) * 16  # 4 bands x 32 x 32
    tile = base64.b64encode(zlib.compress(pixels)).decode("ascii")
    ground.downlink(Kind.RESULT, {"product": "job", "job_id": 7, "status": "completed",
                                  "n_tiles": 16, "accuracy": 0.9375, "tiles_sent": 2,
                                  "tile_parts": 2, "tile_format": TILE_FORMAT}, T0)
    ground.downlink(Kind.RESULT, {"product": "tiles", "job_id": 7, "part": 1, "parts": 2,
                                  "format": TILE_FORMAT, "tiles": [{"index": 5, "data": tile}]}, T0)
    ground.downlink(Kind.RESULT, {"jobs": 3, "tiles": 48}, T0)  # a capture window
    [job] = client.get("/api/jobs").json()["jobs"]
    assert job["job_id"] == 7 and job["tiles"] == [5] and job["parts_missing"] == [2]
    rgb = client.get("/api/jobs/7/tiles/5.png")
    assert rgb.status_code == 200 and rgb.headers["content-type"] == "image/png"
    assert rgb.content.startswith(b"\x89PNG")
    swir = client.get("/api/jobs/7/tiles/5.png", params={"band": "swir"})
    assert swir.status_code == 200 and swir.content != rgb.content
    assert client.get("/api/jobs/7/tiles/5.png", params={"band": "uv"}).status_code == 422
    missing = client.get("/api/jobs/7/tiles/6.png")
    assert missing.status_code == 422 and missing.json()["error"] == "no such tile on the ground"
    assert client.get("/api/jobs/x/tiles/5.png").status_code == 400
    assert [p.get("jobs") for p in client.get("/api/products").json()["products"]] == [3]
