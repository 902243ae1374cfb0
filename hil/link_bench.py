"""``aisat bench link``: what the space link and the ground archive carry, measured.

Four figures, each against its own yardstick, all from one run on this machine:

- **records/s executive -> ground archive, and the ratio to a bare pipe** (the bare
  pipe is measured just before and just after, and averaged, as the load drifts): a child
  process pushes the executive's own downlink mix (the records a minute of the
  in-process harness makes: housekeeping, events, products) through the executive's link
  component (:mod:`flightsw.link`: encode, hold in the recorder, select, send on the
  executive's :class:`~flightsw.transport.ZmqTransport`, take the ground's ACKs and
  release) to a real ``python -m ground`` process, which decodes, accounts, archives
  and commits each record (clock: the archive holds all N rows). The yardstick is a bare
  pyzmq + msgpack pipe between two processes on the same loopback, same records, same
  run: ``msgpack.packb`` -> PAIR -> ``msgpack.unpackb``.
- **end-to-end latency p50/p99**: records made at 100 per second and sent at the next
  10 Hz fast cycle, as the executive sends them; from the record being made to the
  ground's receipt (``rx_wall_s`` in the archive, committed in the same turn).
- **command round trip p50/p99**: the real executive (its whole core, wall clock, a fake
  plant and payload in its process) behind the real ground process; ``exec.noop``
  submitted through the ground's ops API with the ground's ops token, then polled
  (``cmd_status``, every 2 ms) until the ground's command record says ``completed``.
- **goodput during a pass with 10 % loss**: on sim time, in process: the executive's
  link component with a backlog bigger than the pass, the profile's radio rate, and the
  ground core behind :mod:`ground.link_physics` losing 10 % of the frames each way;
  goodput = distinct records' bytes archived / (configured rate x pass length).

Prints ratios and figures, asserts nothing (targets: ratio >= 0.30, goodput >= 0.80).

    python -m hil.bench link [--json] [--records N] [--rtt-commands N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import zmq

from flightsw.catalog import build_dictionary
from flightsw.component import Tick
from flightsw.config import FlightConfig
from flightsw.wire import Kind

PASS_S = 300.0
CYCLE_S = 0.1
LOSS = 0.10
DEFAULT_RECORDS = 20_000
DEFAULT_RTT_COMMANDS = 30
LATENCY_RECORDS = 300
PUMP_BATCH = 1000
"""Frames the pump selects per turn (the executive selects its budget per fast cycle; an
unbounded selection would measure the recorder re-queueing what ZeroMQ refused)."""
T0 = 1.8e9
REPO = Path(__file__).resolve().parents[1]


def downlink_mix(seconds: int = 60) -> list[tuple[Kind, dict[str, Any]]]:
    """(kind, body) of every record the executive downlinks in ``seconds`` of nominal
    flight (the in-process harness), HELLOs aside."""
    from flightsw.harness import Harness

    h = Harness()
    h.run(seconds)
    return [(e.kind, dict(e.body)) for e in h.downlink if e.kind is not Kind.HELLO]


# --- goodput: sim time, in process ----------------------------------------------------
def goodput(loss: float = LOSS, pass_s: float = PASS_S, seed: int = 1,
            profile: str = "cubesat-jetson") -> dict[str, Any]:
    """A pass of ``pass_s`` over the profile's radio with ``loss`` each way."""
    from flightsw import link, uplink_auth
    from ground.archive import Archive
    from ground.core import GroundCore, WallTime
    from ground.link_physics import ChannelSpec, LinkPhysics
    from hil.plant import load_profile

    prof = load_profile(profile)
    physics = prof.link or LinkPhysics()
    rate_bps = physics.down.rate_bps or 2e6
    lossy = LinkPhysics(down=ChannelSpec(latency_s=physics.down.latency_s, rate_bps=rate_bps,
                                         loss=loss),
                        up=ChannelSpec(latency_s=physics.up.latency_s,
                                       rate_bps=physics.up.rate_bps, loss=loss), seed=seed)
    dictionary = build_dictionary()
    mix = downlink_mix()
    st = link.initial(FlightConfig(downlink_rate_bps=rate_bps, recorder_bytes=1 << 30))
    st.dictionary_hash, st.dictionary_version = dictionary.hash, dictionary.version
    st.boot_id, st.boot_mission_time_s = 1, T0
    sizes: dict[int, int] = {}  # frame bytes of every record made, by number

    def make(kind: Kind, body: dict[str, Any], t: float) -> int:
        link.record(st, kind, body, t)
        n = sizes[st.next_seq - 1] = len(st.recorder.records[st.next_seq - 1].frame)
        return n

    made_bytes, i = 0, 0
    while made_bytes < 2 * rate_bps / 8 * pass_s:  # more than the pass can carry
        kind, body = mix[i % len(mix)]
        made_bytes += make(kind, body, T0 - 10_000 + i)
        i += 1
    with tempfile.TemporaryDirectory(prefix="aisat-bench-link-") as tmp:
        archive = Archive(Path(tmp) / "archive.sqlite")
        ground = GroundCore(dictionary, archive, always_in_contact=True, link_physics=lossy)
        uplink: list[bytes] = []
        t = T0
        link.set_contact(st, True, "bench", Tick(t, t))  # records our HELLO
        sizes[st.next_seq - 1] = len(st.recorder.records[st.next_seq - 1].frame)
        hk = sent_bytes = 0
        for k in range(int(pass_s / CYCLE_S)):
            t = T0 + k * CYCLE_S
            wall = WallTime(t, t)
            if k % int(1 / CYCLE_S) == 0:  # realtime housekeeping goes on during the pass
                kind, body = mix[hk % len(mix)]
                make(kind, body, t)
                hk += 1
            link.new_cycle(st, link.FRAMES_PER_SECOND // 10)
            frames = link.ready_frames(st, t)
            link.sent(st, len(frames), t)
            sent_bytes += sum(len(f) for f in frames)
            ground.on_downlink(frames, wall)
            ground.pump_uplink(lambda f: _take(uplink, f), wall)
            if uplink:  # the ground's seal comes off unchecked (the link is measured)
                link.receive(st, [uplink_auth.peel(f) for f in uplink], Tick(t, t))
                uplink.clear()
            if k % 10 == 9:
                archive.flush()
        archive.close()
        mc = ground.mission
        seqs = sorted(set(archive_seqs(Path(tmp) / "archive.sqlite")))
    capacity_bytes = rate_bps / 8 * pass_s
    delivered_bytes = sum(sizes.get(s, 0) for s in seqs)
    return {"profile": prof.name, "rate_bps": rate_bps, "loss": loss, "pass_s": pass_s,
            "records_archived": len(seqs), "duplicates_dropped": mc.duplicates_dropped,
            "frames_sent": st.frames_sent, "frames_resent": st.recorder.resent_total,
            "goodput_bytes": delivered_bytes, "sent_fraction": sent_bytes / capacity_bytes,
            "goodput_fraction": delivered_bytes / capacity_bytes}


def archive_seqs(path: Path) -> list[int]:
    """Every downlink number archived (one per record)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT seq FROM telemetry UNION ALL SELECT seq FROM events "
                            "UNION ALL SELECT seq FROM products UNION ALL SELECT seq FROM "
                            "verifications UNION ALL SELECT seq FROM hellos WHERE "
                            "direction = 'down'").fetchall()
    finally:
        conn.close()
    return [int(r[0]) for r in rows]


def _take(into: list[bytes], frame: bytes) -> bool:
    into.append(frame)
    return True


# --- processes on loopback ----------------------------------------------------------------
def _endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def _ground(link: str, archive: Path) -> Iterator[str]:
    """A real ``python -m ground`` process (wall clock, always in contact, ideal link,
    uplink keys in ``archive``'s directory / keys); yields its ops endpoint."""
    ops = _endpoint()
    log = open(archive.with_suffix(".log"), "w")  # closed below
    proc = subprocess.Popen([sys.executable, "-m", "ground", "--link", link, "--ops", ops,
                             "--world", "", "--archive", str(archive), "--keys",
                             str(archive.parent / "keys"), "--log-level", "WARNING"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        yield ops
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def _pump(link_ep: str, n: int, latency_records: int, conn: Any) -> None:
    """Child: the executive's link component on a ZmqTransport. Phase 1: ``n`` records
    as fast as the link takes them; phase 2: ``latency_records`` at 100/s, sent at the
    next 10 Hz cycle and stamped with the wall clock as mission time."""
    from flightsw import link, uplink_auth
    from flightsw.transport import ZmqTransport

    dictionary = build_dictionary()
    mix = downlink_mix()
    st = link.initial(FlightConfig(recorder_bytes=1 << 30))
    st.dictionary_hash, st.dictionary_version = dictionary.hash, dictionary.version
    st.boot_id, st.boot_mission_time_s = 1, T0
    transport = ZmqTransport.pair(link_ep, bind=True)

    def pump(now_s: float) -> None:
        frames = transport.receive()
        if frames:  # sealed by the ground; checking the tag is not what this measures
            link.receive(st, [uplink_auth.peel(f) for f in frames], Tick(now_s, now_s))
        st.budget = PUMP_BATCH
        ready = link.ready_frames(st, now_s)
        n_ok = 0
        for frame in ready:
            if not transport.send(frame):
                break
            n_ok += 1
        link.sent(st, n_ok, now_s)

    link.set_contact(st, True, "bench", Tick(T0, 0.0))
    while not transport.sock.poll(10, zmq.POLLIN):  # the ground's HELLO: it is there
        pump(T0)
    conn.send("ready")
    conn.recv()  # go
    made = 0
    t = T0
    while made < n or len(st.recorder):
        for _ in range(min(400, n - made)):
            kind, body = mix[made % len(mix)]
            link.record(st, kind, body, T0 + made * 1e-3)
            made += 1
        pump(t)
        t += 1e-3
        if made >= n:
            transport.sock.poll(5, zmq.POLLIN)
    conn.send("phase2")
    conn.recv()
    next_cycle = time.time()
    for i in range(latency_records):
        now = time.time()
        link.record(st, Kind.TELEMETRY, {"points": {"bench.i": i, "bench.made_s": now}}, now)
        if now >= next_cycle:
            pump(now)
            next_cycle += CYCLE_S
        time.sleep(0.01)
    for _ in range(300):
        pump(time.time())
        time.sleep(0.01)
        if not len(st.recorder):
            break
    conn.send(st.recorder.resent_total)
    transport.close()


def _bare_sender(link_ep: str, n: int, conn: Any) -> None:
    """Child: the yardstick - msgpack.packb and a PAIR, nothing else."""
    mix = downlink_mix()
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.connect(link_ep)
    conn.send("ready")
    conn.recv()
    for i in range(n):
        kind, body = mix[i % len(mix)]
        sock.send(msgpack.packb([1, kind.value, "flight", i, T0 + i, body],
                                use_bin_type=True))
    conn.recv()  # the receiver has them all
    sock.close()
    ctx.term()


def _child(target: Any, *args: Any) -> tuple[Any, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)
    proc.start()
    return proc, parent


def throughput(n: int = DEFAULT_RECORDS,
               latency_records: int = LATENCY_RECORDS) -> dict[str, Any]:
    """Records/s through the executive's link into the real ground's archive, the bare
    pipe's records/s in the same run, and the end-to-end latency of paced records."""
    out: dict[str, Any] = {"records": n}
    bare_before = _bare(n)  # the yardstick before and after: the machine's load drifts
    with tempfile.TemporaryDirectory(prefix="aisat-bench-link-") as tmp:
        archive = Path(tmp) / "archive.sqlite"
        link_ep = _endpoint()
        proc, conn = _child(_pump, link_ep, n, latency_records)
        with _ground(link_ep, archive):
            if not conn.poll(60):
                raise RuntimeError("the link pump did not start")
            conn.recv()
            base = _count_rows(archive)
            t0 = time.monotonic()
            conn.send("go")
            end = _wait_all(archive, base + n, 300.0)
            out["exec_records_per_s"] = n / (end - t0) if end else None
            conn.recv()  # phase2
            conn.send("go")
            out["frames_resent"] = conn.recv()
            time.sleep(0.3)
            out.update(_latency(archive))
        proc.join(10)
    bare_after = _bare(n)
    out["bare_records_per_s"] = (None if bare_before is None or bare_after is None
                                 else (bare_before + bare_after) / 2)
    out["bare_spread"] = [bare_before, bare_after]
    if out.get("exec_records_per_s") and out["bare_records_per_s"]:
        out["ratio_to_bare"] = out["exec_records_per_s"] / out["bare_records_per_s"]
    return out


def _count_rows(path: Path) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return sum(_count(conn, t) for t in ("telemetry", "events", "products"))
    finally:
        conn.close()


def _wait_all(path: Path, n: int, timeout_s: float) -> float | None:
    """Poll until the archive holds ``n`` records (telemetry, events, products): one
    read-only connection, a cheap query every 10 ms (the poller must not take the CPU
    the measured processes need)."""
    deadline = time.monotonic() + timeout_s
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    try:
        while time.monotonic() < deadline:
            if sum(_count(conn, t) for t in ("telemetry", "events", "products")) >= n:
                return time.monotonic()
            time.sleep(0.01)
    finally:
        conn.close()
    return None


def _latency(path: Path) -> dict[str, Any]:
    from ground.archive_reader import ArchiveReader

    with ArchiveReader(path) as reader:
        made = reader.series("bench.made_s", max_points=1 << 30)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        wall = dict(conn.execute("SELECT id, rx_wall_s FROM telemetry WHERE id >= ?",
                                 (min((s.id for s in made), default=0),)).fetchall())
    finally:
        conn.close()
    lat_ms = sorted(1e3 * (wall[s.id] - s.value) for s in made if wall.get(s.id))
    if not lat_ms:
        return {"latency_samples": 0}
    return {"latency_samples": len(lat_ms), "latency_p50_ms": _pct(lat_ms, 50),
            "latency_p99_ms": _pct(lat_ms, 99)}


def _pct(sorted_values: list[float], pct: float) -> float:
    k = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def _bare(n: int) -> float | None:
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 0)
    link_ep = _endpoint()
    sock.bind(link_ep)
    proc, conn = _child(_bare_sender, link_ep, n)
    try:
        if not conn.poll(60):
            return None
        conn.recv()
        t0 = time.monotonic()
        conn.send("go")
        sock.setsockopt(zmq.RCVTIMEO, 30_000)
        try:
            for _ in range(n):
                msgpack.unpackb(sock.recv(), raw=False, strict_map_key=False)
        except zmq.Again:
            return None
        rate = n / (time.monotonic() - t0)
        conn.send("done")
        return rate
    finally:
        proc.join(10)
        sock.close()
        ctx.term()


# --- command round trip -------------------------------------------------------------------
def _executive(plant_ep: str, link_ep: str, key_dir: Path, conn: Any) -> None:
    """Child: the real executive (whole core, wall clock), a fake payload in process,
    holding the uplink keys of ``key_dir`` (the ground's)."""
    from flightsw import keyring
    from flightsw.clock import RealClock
    from flightsw.executive import Executive, install_signal_handlers
    from flightsw.harness import FakePayloadHost
    from flightsw.transport import ZmqTransport

    executive = Executive(FlightConfig(), clock=RealClock(),
                          plant=ZmqTransport.pair(plant_ep, bind=False),
                          link=ZmqTransport.pair(link_ep, bind=True),
                          payload=FakePayloadHost(), lockstep=False, profile="bench",
                          uplink_keys=keyring.ensure(key_dir))
    install_signal_handlers(executive)
    conn.send("up")
    executive.run()


def cmd_rtt(commands: int = DEFAULT_RTT_COMMANDS) -> dict[str, Any]:
    """``exec.noop`` round trips through the ground's ops API to the real executive."""
    from flightsw import keyring
    from flightsw.harness import nominal_sensors
    from flightsw.wire import Sequencer
    from ground import ops_token
    from ground.errors import GroundError
    from ground.ops_client import OpsClient

    ctx: zmq.Context[Any] = zmq.Context()
    plant = ctx.socket(zmq.PAIR)
    plant.setsockopt(zmq.LINGER, 0)
    plant_ep, link_ep = _endpoint(), _endpoint()
    plant.bind(plant_ep)
    seq = Sequencer("plant")
    body = {"sensors": nominal_sensors().to_body()}
    tmp_dir = tempfile.TemporaryDirectory(prefix="aisat-bench-rtt-")
    tmp = Path(tmp_dir.name)
    keyring.ensure(tmp / "keys")  # the ground finds them next to its archive
    proc, conn = _child(_executive, plant_ep, link_ep, tmp / "keys")
    rtts: list[float] = []
    failed = 0
    try:
        conn.recv()
        with _ground(link_ep, tmp / "archive.sqlite") as ops_ep:
            # commanding needs the ops token the ground writes next to its archive at
            # start (a request sent before it would reach the ground without it)
            deadline = time.monotonic() + 60
            while ops_token.read(tmp) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            client = OpsClient(ops_ep, timeout_s=5.0, token=lambda: ops_token.read(tmp))
            next_sample = 0.0
            warm = 0
            while len(rtts) + failed < commands and time.monotonic() < deadline:
                if time.monotonic() >= next_sample:  # the plant's 1 Hz samples
                    plant.send(seq.pack(Kind.SENSORS, time.time(), body))
                    next_sample = time.monotonic() + 1.0
                while plant.poll(0):
                    plant.recv()  # actuator commands: the fake plant ignores them
                t0 = time.monotonic()
                try:
                    reply = client.request({"op": "cmd", "name": "exec.noop", "args": {}})
                except GroundError:  # the ground is still starting
                    time.sleep(0.2)
                    continue
                if not reply.get("ok"):  # no token yet (the ground is starting): again
                    time.sleep(0.2)
                    continue
                cmd_seq = reply["command"]["cmd_seq"]
                stage = _wait_final(client, cmd_seq, plant, seq, body, 10.0)
                took_ms = 1e3 * (time.monotonic() - t0)
                if warm < 2:  # the first ones wait for HELLO and the dictionary check
                    warm += 1
                    continue
                if stage == "completed":
                    rtts.append(took_ms)
                else:
                    failed += 1
    finally:
        proc.terminate()
        proc.join(10)
        plant.close()
        ctx.term()
        tmp_dir.cleanup()
    rtts.sort()
    return {"commands": len(rtts), "failed": failed,
            "cmd_rtt_p50_ms": _pct(rtts, 50) if rtts else None,
            "cmd_rtt_p99_ms": _pct(rtts, 99) if rtts else None}


def _wait_final(client: Any, cmd_seq: int, plant: Any, seq: Any, body: Any,
                timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stage = str(client.request({"op": "cmd_status", "cmd_seq": cmd_seq})
                    ["command"]["stage"])
        if stage in ("completed", "failed"):
            return stage
        while plant.poll(0):
            plant.recv()
        time.sleep(0.002)
    return "timeout"


# --- the command ---------------------------------------------------------------------------
def bench_link(records: int = DEFAULT_RECORDS,
               rtt_commands: int = DEFAULT_RTT_COMMANDS) -> dict[str, Any]:
    return {"throughput": throughput(records), "cmd": cmd_rtt(rtt_commands),
            "goodput": goodput()}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The four headline numbers (``--json``)."""
    return {"ratio_to_bare": result["throughput"].get("ratio_to_bare"),
            "latency_p99_ms": result["throughput"].get("latency_p99_ms"),
            "cmd_rtt_p50_ms": result["cmd"].get("cmd_rtt_p50_ms"),
            "goodput_fraction": result["goodput"]["goodput_fraction"]}


def _format(r: dict[str, Any]) -> str:
    t, c, g = r["throughput"], r["cmd"], r["goodput"]

    def num(v: Any, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    return "\n".join([
        f"link benchmark ({t['records']} records of the executive's downlink mix)",
        f"  executive -> ground archive  {num(t.get('exec_records_per_s'), ',.0f')} records/s",
        f"  bare pyzmq + msgpack pipe    {num(t.get('bare_records_per_s'), ',.0f')} records/s"
        f" (before {num(t['bare_spread'][0], ',.0f')}, after "
        f"{num(t['bare_spread'][1], ',.0f')})",
        f"  ratio to bare                {num(t.get('ratio_to_bare'), '.2f')} (target >= 0.30)",
        f"  end-to-end latency           p50 {num(t.get('latency_p50_ms'), '.1f')} ms, "
        f"p99 {num(t.get('latency_p99_ms'), '.1f')} ms ({t.get('latency_samples', 0)} records"
        f" at 100/s, 10 Hz cycles)",
        f"  command round trip           p50 {num(c['cmd_rtt_p50_ms'], '.1f')} ms, "
        f"p99 {num(c['cmd_rtt_p99_ms'], '.1f')} ms ({c['commands']} exec.noop, "
        f"{c['failed']} failed)",
        f"  goodput, {g['loss']:.0%} loss          {g['goodput_fraction']:.2f} of "
        f"{g['rate_bps'] / 1e6:g} Mbit/s over a {g['pass_s']:.0f} s pass (target >= 0.80; "
        f"{g['frames_resent']} of {g['frames_sent']} frames sent again, "
        f"{g['duplicates_dropped']} duplicates)",
    ])


def add_parser(sub: Any) -> None:
    p = sub.add_parser("link", help="records/s to the archive vs a bare pipe, latency, "
                       "command round trip, goodput with 10 %% loss")
    p.add_argument("--json", action="store_true", help="print the four headline numbers")
    p.add_argument("--records", type=int, default=DEFAULT_RECORDS)
    p.add_argument("--rtt-commands", type=int, default=DEFAULT_RTT_COMMANDS)


def run(args: argparse.Namespace) -> int:
    if args.records < 100 or args.rtt_commands < 3:
        print("aisat bench link: --records >= 100 and --rtt-commands >= 3", file=sys.stderr)
        return 2
    result = bench_link(args.records, args.rtt_commands)
    print(json.dumps(summary(result)) if args.json else _format(result))
    return 0
