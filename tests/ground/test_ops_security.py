"""The ops API's token: measured on main, one unauthenticated request stopped the ground.

Ops that command or stop need the token the ground writes to ``RUN_DIR/ops.token``
(0600, new at every start); read-only ops do not. Fuzzed with the token in place: any
request gets a reply, and nothing without the token commands or stops.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from ground import ops_token
from ground.api import Ops
from ground.ops_client import OpsClient
from ground.ops_service import TOKEN_OPS, OpsService
from ground.station import Station

from .conftest import FakeExecutive, GroundRun, write_stack
from .test_fuzz import FUZZ, T0, Ground, values
from .test_process import ops_ready, wait_until

TOKEN = "a1" * 32


def _service() -> OpsService:
    return OpsService(Ground().mc, Station(), token=TOKEN)


def test_an_unauthenticated_stop_is_refused_and_the_ground_keeps_running(
        tmp_path: Path, fake_exec: FakeExecutive) -> None:
    info = write_stack(tmp_path, fake_exec.link_endpoint, fake_exec.world_endpoint)
    ground = GroundRun(tmp_path)
    try:
        ops = Ops(tmp_path)
        wait_until(lambda: ops_ready(ops), what="ops answering")
        token_file = tmp_path / ops_token.TOKEN_FILE
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        keys = tmp_path / "keys"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys.iterdir())
        anonymous = OpsClient(info.ops)  # any local process, without the token
        refused = anonymous.request({"op": "stop"})
        assert not refused["ok"] and "token" in refused["error"]
        wrong = anonymous.request({"op": "stop", "token": "0" * 64})
        assert not wrong["ok"]
        cmd = anonymous.request({"op": "cmd", "name": "exec.noop", "args": {}})
        assert not cmd["ok"] and "token" in cmd["error"]
        assert anonymous.request({"op": "status"})["ok"]  # read-only: no token needed
        assert ground.proc.poll() is None
        assert ops.status()["ops"]["unauthorized"] == 3
        ops.stop()  # the operator's tools read the token from the run directory
        assert ground.wait() == 0
    finally:
        ground.stop()


def test_every_op_that_commands_or_stops_needs_the_token() -> None:
    ops = _service()
    for op in sorted(TOKEN_OPS):
        reply = ops.handle({"op": op, "cmd_seq": 0, "name": "exec.noop", "args": {}},
                           T0, 0.0)
        assert not reply["ok"] and "token" in reply["error"], op
    assert not ops.stop_requested and ops.mission.commands.next_seq == 0
    for op in ("status", "stats", "dictionary", "ping", "queue"):
        assert ops.handle({"op": op}, T0, 0.0)["ok"], op
    assert ops.handle({"op": "stop", "token": TOKEN}, T0, 0.0)["ok"]
    assert ops.stop_requested


OPS = ["cmd", "cmd_status", "cancel", "hold", "release", "queue", "rotate_key", "status",
       "stats", "dictionary", "ping", "stop"]


@FUZZ
@given(op=st.one_of(st.sampled_from(OPS), values),
       fields=st.dictionaries(
           st.sampled_from(["name", "args", "cmd_seq", "confirm", "at_s", "token", "x"]),
           st.one_of(values, st.sampled_from(["exec.noop", "mode.set", TOKEN[:-1], 0, 1])),
           max_size=5),
       with_token=st.booleans())
def test_any_request_gets_a_reply_and_nothing_runs_without_the_token(
        op: Any, fields: dict[str, Any], with_token: bool) -> None:
    ops = _service()
    request = {"op": op, **fields}
    if with_token:
        request["token"] = TOKEN
    reply = msgpack.unpackb(ops.handle_bytes(msgpack.packb(request, use_bin_type=True),
                                             T0, 0.0), raw=False)
    assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool)
    assert ops.internal_errors == 0
    if request.get("token") != TOKEN:
        assert not ops.stop_requested and ops.mission.commands.next_seq == 0
