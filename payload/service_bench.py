"""``aisat bench payload [--json]``: the payload process as a service against bare
onnxruntime, on the same model, batch and thread count, in the same run.

For every shipped model (``payload/models/*.onnx``, so a model added there is measured
too) it starts a real payload process (:class:`flightsw.payload_host.ProcessPayloadHost`,
the executive's own host: authenticated frames over ZeroMQ, the executive's protocol)
and, alternating in rounds with it so that a busy machine slows both alike:

- **payload, throughput**: jobs of ``batch`` tiles kept :data:`IN_FLIGHT` deep (as the
  free-running executive keeps them), tiles per wall second from the first send to the
  last result;
- **payload, latency**: one job at a time, send to result, p50/p99;
- **bare**: an onnxruntime session on the same model bytes with the same options
  (intra-op threads, sequential), looping ``run`` over the same tile bank batches.

``throughput_ratio_to_bare`` is the median over rounds of payload/bare throughput
(target >= 0.95); the headline is the shipped default model's. On a machine shared
with other work a separate process can get a different share of the CPU than the loop
in this one, so it also gives
``cpu_efficiency_ratio_to_bare``: bare CPU seconds over the payload process's CPU
seconds (/proc) for the same number of tiles, which the neighbours cannot skew, and
``session_cpu_ratio_to_bare``: the same for the payload's own session run in this
process (:func:`payload.model.load_model`: weights the scrubber can check, no protocol,
no integrity checks), which splits the gap into what the session costs and what the
service around it costs. It then
calls ``payload.integrity_bench.measure()`` for scrubbing
cost, run-twice cost and detection rates when that module exists (it belongs to the
model-store work) and says so when it does not. Prints ratios and numbers; asserts
nothing. Reads wall time only through :class:`flightsw.clock.RealClock`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flightsw import channel_auth
from flightsw.clock import RealClock
from flightsw.messages import ConfigBody, JobBody, ResultBody
from flightsw.wire import Kind, Sequencer, encode, try_decode
from payload.thread_cpu import (
    INFERENCE_THREAD,
    TaskTimes,
    busiest_thread_times,
    process_times,
    task_times,
    thread_times,
)

IN_FLIGHT = 4
ROUNDS = 12
JOBS_PER_ROUND = 400
"""Jobs per round: ~0.5 s of work, so the pipeline's fill and drain (``IN_FLIGHT`` jobs)
and the scheduler's jitter are a small part of each round (at 40 jobs, 60 ms, single
rounds ranged 0.68..1.21 of bare on a quiet host)."""
READY_TIMEOUT_S = 60.0
RESULT_TIMEOUT_S = 30.0


class BenchError(RuntimeError):
    """The payload under test did not answer (its reason says what was missing)."""


def shipped_models() -> list[Path]:
    from payload.model import MODELS_DIR

    return sorted(p for p in MODELS_DIR.glob("*.onnx") if p.with_suffix(".json").exists())


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


class _Payload:
    """A payload process spoken to as the executive speaks to it."""

    def __init__(self, model: Path, clock: RealClock) -> None:
        from flightsw.payload_host import ProcessPayloadHost

        self.clock = clock
        self.host = ProcessPayloadHost(model_path=str(model))
        self.seq = Sequencer("flight")
        error = self.host.spawn(1)
        if error:
            raise BenchError(f"payload did not start: {error}")
        self._wait(lambda kind, body: kind is Kind.PAYLOAD_HEARTBEAT, READY_TIMEOUT_S,
                   "a ready heartbeat")
        self.send(Kind.PAYLOAD_CONFIG, ConfigBody(1.0, False).to_body())

    def send(self, kind: Kind, body: dict[str, Any]) -> None:
        transport = self.host.transport
        assert transport is not None
        frame = self.seq.pack(kind, 0.0, body)
        transport.send(channel_auth.seal(self.host.key, channel_auth.TO_PAYLOAD, frame))

    def _wait(self, want: Callable[[Kind, Any], bool], timeout_s: float,
              what: str) -> list[dict[str, Any]]:
        transport = self.host.transport
        assert transport is not None
        deadline = self.clock.monotonic_s() + timeout_s
        while self.clock.monotonic_s() < deadline:
            got: list[dict[str, Any]] = []
            for sealed in transport.receive():
                frame = channel_auth.unseal(self.host.key, channel_auth.TO_EXECUTIVE, sealed)
                env = try_decode(frame) if isinstance(frame, bytes) else None
                if env is not None and not isinstance(env, Exception) and want(env.kind,
                                                                               env.body):
                    got.append(dict(env.body))
            if got:
                return got
            if self.host.exit_status() is not None:
                raise BenchError(f"payload exited ({self.host.exit_status()}) waiting for "
                                 f"{what}")
            transport.wait(0.05)
        raise BenchError(f"no {what} within {timeout_s:g} s")

    def results(self) -> list[ResultBody]:
        bodies = self._wait(lambda kind, body: kind is Kind.PAYLOAD_RESULT, RESULT_TIMEOUT_S,
                            "job result")
        out = [ResultBody.from_body(b) for b in bodies]
        for res in out:
            if not res.ok:
                raise BenchError(f"job {res.job_id} failed: {res.error}")
        return out

    def close(self) -> None:
        self.host.stop(encode(self.seq.make(Kind.STOP, 0.0, {"reason": "bench done"})))


class _Jobs:
    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.next_id = 1

    def body(self) -> dict[str, Any]:
        job_id = self.next_id
        self.next_id += 1
        return JobBody(job_id, self.batch, job_id * 7919, 45.0, 7.0).to_body()


def _payload_throughput(p: _Payload, jobs: _Jobs, n_jobs: int, clock: RealClock) -> float:
    t0 = clock.monotonic_s()
    sent = done = 0
    while sent < min(IN_FLIGHT, n_jobs):
        p.send(Kind.PAYLOAD_JOB, jobs.body())
        sent += 1
    while done < n_jobs:
        for _ in p.results():
            done += 1
            if sent < n_jobs:
                p.send(Kind.PAYLOAD_JOB, jobs.body())
                sent += 1
    return n_jobs * jobs.batch / (clock.monotonic_s() - t0)


def _payload_latency(p: _Payload, jobs: _Jobs, n_jobs: int, clock: RealClock) -> list[float]:
    out = []
    for _ in range(n_jobs):
        t0 = clock.monotonic_s()
        p.send(Kind.PAYLOAD_JOB, jobs.body())
        p.results()
        out.append(clock.monotonic_s() - t0)
    return out


def bench_model(model_path: Path, *, batch: int = 16, rounds: int = ROUNDS,
                jobs_per_round: int = JOBS_PER_ROUND, intra_op_threads: int = 1) -> dict[str, Any]:
    import onnxruntime as ort

    from payload.model import CPU_PROVIDER, ModelCard
    from payload.tile_bank import shared_bank

    clock = RealClock()
    card = ModelCard.read(model_path.with_suffix(".json"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    bare = ort.InferenceSession(model_path.read_bytes(), sess_options=options,
                                providers=[CPU_PROVIDER])
    bank = shared_bank()
    batches = [bank.capture(batch, i * 7919, 45.0, 7.0).tiles for i in range(32)]
    outputs = [card.output_name]

    from payload.model import load_model

    loaded = load_model(model_path, intra_op_threads=intra_op_threads)

    def loaded_cpu_ns(n: int) -> int:
        """CPU of the payload's own session (scrubbable weights), no protocol, no checks."""
        cpu0 = time.thread_time_ns()
        for i in range(n):
            loaded.infer(batches[i % len(batches)])
        return time.thread_time_ns() - cpu0

    def bare_round(n: int) -> list[float]:
        times = []
        for i in range(n):
            t0 = clock.monotonic_s()
            bare.run(outputs, {card.input_name: batches[i % len(batches)]})
            times.append(clock.monotonic_s() - t0)
        return times

    payload = _Payload(model_path, clock)
    jobs = _Jobs(batch)
    cpu = _CpuBooks()
    try:
        _payload_latency(payload, jobs, 10, clock)  # warm-up, both sides
        bare_round(10)
        loaded_cpu_ns(10)
        ratios, p_tput, b_tput, p_lat, b_lat = [], [], [], [], []
        for r in range(rounds):
            # A B B A ...: each side goes first in every other pair, so a drift in the
            # machine's load weighs on both alike
            for side in (("payload", "bare") if r % 2 == 0 else ("bare", "payload")):
                if side == "payload":
                    p_tput.append(cpu.payload_round(payload, jobs, jobs_per_round, clock))
                else:
                    latencies, wall_s = cpu.bare_round(lambda: bare_round(jobs_per_round),
                                                       clock)
                    b_lat += latencies
                    b_tput.append(jobs_per_round * batch / wall_s)
            ratios.append(p_tput[-1] / b_tput[-1])
            cpu.session_ns += loaded_cpu_ns(jobs_per_round)
            p_lat += _payload_latency(payload, jobs, jobs_per_round // 2, clock)
        products = _products(payload, jobs, batch)
    finally:
        payload.close()
    tiles = rounds * jobs_per_round * batch
    return {
        "model": card.model_id,
        "file": model_path.name,
        "batch": batch,
        "intra_op_threads": intra_op_threads,
        "rounds": rounds,
        "jobs_per_round": jobs_per_round,
        "payload_tiles_per_s": round(statistics.median(p_tput), 1),
        "bare_tiles_per_s": round(statistics.median(b_tput), 1),
        "throughput_ratio_to_bare": round(statistics.median(ratios), 3),
        "throughput_ratio_per_round": [round(r, 3) for r in ratios],
        **cpu.report(tiles, rounds * jobs_per_round),
        "p50_latency_ms": round(_pct(p_lat, 0.5) * 1e3, 3),
        "p99_latency_ms": round(_pct(p_lat, 0.99) * 1e3, 3),
        "bare_p50_latency_ms": round(_pct(b_lat, 0.5) * 1e3, 3),
        "bare_p99_latency_ms": round(_pct(b_lat, 0.99) * 1e3, 3),
        "products": products,
    }


def _inference_times(pid: int) -> TaskTimes | None:
    """The payload's inference thread; a payload that does not name it (older builds,
    measured side by side): its busiest thread beside the main one."""
    named = thread_times(pid, INFERENCE_THREAD)
    return named if named is not None else busiest_thread_times(pid)


def _this_thread() -> TaskTimes:
    return task_times(Path(f"/proc/self/task/{threading.get_native_id()}")) or TaskTimes()


class _CpuBooks:
    """Time of both sides over all rounds, from ``/proc`` (:mod:`payload.thread_cpu`):
    CPU, waiting for a core, and for the payload's inference thread the rest of the
    wall time, when it had no job to run (or waited for the GIL). Totals: a round is
    too short for a per-round figure to mean much."""

    def __init__(self) -> None:
        self.payload = TaskTimes()
        self.inference = TaskTimes()
        self.payload_wall_s = 0.0
        self.bare = TaskTimes()
        self.bare_wall_s = 0.0
        self.session_ns = 0
        self.inference_seen = True

    def payload_round(self, p: _Payload, jobs: _Jobs, n_jobs: int,
                      clock: RealClock) -> float:
        """One throughput round of the payload; returns its tiles/s."""
        pid = p.host.pid or 0
        all0, inf0 = process_times(pid), _inference_times(pid)
        t0 = clock.monotonic_s()
        tput = _payload_throughput(p, jobs, n_jobs, clock)
        self.payload_wall_s += clock.monotonic_s() - t0
        all1, inf1 = process_times(pid), _inference_times(pid)
        if all0 is not None and all1 is not None:
            self.payload += all1 - all0
        if inf0 is not None and inf1 is not None:
            self.inference += inf1 - inf0
        else:
            self.inference_seen = False
        return tput

    def bare_round(self, run: Callable[[], list[float]], clock: RealClock) -> tuple[
            list[float], float]:
        """One round of the bare loop on this thread; its latencies and wall seconds."""
        before, t0 = _this_thread(), clock.monotonic_s()
        latencies = run()
        wall_s = clock.monotonic_s() - t0
        self.bare += _this_thread() - before
        self.bare_wall_s += wall_s
        return latencies, wall_s

    def report(self, tiles: int, jobs: int) -> dict[str, Any]:
        def per_tile_us(ns: float) -> float | None:
            return round(ns / tiles / 1e3, 2) if ns > 0 else None

        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 3) if a > 0 and b > 0 else None

        inf = self.inference if self.inference_seen else TaskTimes()
        idle_ns = max(self.payload_wall_s * 1e9 - inf.cpu_ns - inf.wait_ns, 0.0)
        return {
            "cpu_us_per_tile": {
                "bare": per_tile_us(self.bare.cpu_ns),
                "payload_process": per_tile_us(self.payload.cpu_ns),
                "payload_inference_thread": per_tile_us(inf.cpu_ns),
            },
            "inference_thread_us_per_job": {
                "cpu": round(inf.cpu_ns / jobs / 1e3, 1),
                "waiting_for_a_core": round(inf.wait_ns / jobs / 1e3, 1),
                "idle": round(idle_ns / jobs / 1e3, 1),
            } if self.inference_seen else None,
            "bare_us_per_job": {
                "cpu": round(self.bare.cpu_ns / jobs / 1e3, 1),
                "waiting_for_a_core": round(self.bare.wait_ns / jobs / 1e3, 1),
            },
            "cores_used": {
                "bare": (round(self.bare.cpu_ns / 1e9 / self.bare_wall_s, 2)
                         if self.bare_wall_s else None),
                "payload_process": (round(self.payload.cpu_ns / 1e9 / self.payload_wall_s, 2)
                                    if self.payload_wall_s else None),
                "payload_inference_thread": (
                    round(inf.cpu_ns / 1e9 / self.payload_wall_s, 2)
                    if self.payload_wall_s and self.inference_seen else None),
            },
            "throughput_ratio_of_totals": (
                round(self.bare_wall_s / self.payload_wall_s, 3)
                if self.payload_wall_s and self.bare_wall_s else None),
            "cpu_efficiency_ratio_to_bare": ratio(self.bare.cpu_ns, self.payload.cpu_ns),
            "inference_thread_ratio_to_bare": ratio(self.bare.cpu_ns, inf.cpu_ns),
            "session_cpu_ratio_to_bare": ratio(self.bare.cpu_ns, self.session_ns),
        }


PRODUCT_JOBS = 40


def _products(p: _Payload, jobs: _Jobs, batch: int) -> dict[str, Any]:
    """Operator jobs asking for their tiles: accuracy against the camera's labels, and
    the downlink volume of the selected tiles against sending every tile."""
    tiles = correct = sent = every = selected = 0
    for _ in range(PRODUCT_JOBS):
        p.send(Kind.PAYLOAD_JOB, {**jobs.body(), "detail": True, "tiles": True,
                                  "priority": 1})
        for res in p.results():
            tiles += res.n_tiles
            correct += res.n_correct
            selected += len(res.selected)
            sent += sum(len(z) for z in res.tiles_z)
            every += res.all_tiles_z_bytes
    return {
        "jobs": PRODUCT_JOBS, "tiles": tiles, "selected": selected,
        "accuracy": round(correct / tiles, 4) if tiles else None,
        "tile_bytes_sent": sent, "all_tile_bytes": every,
        "raw_float32_bytes": tiles * 4 * 32 * 32 * 4,
        "downlink_saved_frac": round(1 - sent / every, 4) if every else None,
    }


def integrity_slot() -> dict[str, Any]:
    """Scrubbing cost, run-twice cost, detection rates, from the model-store work's
    ``payload.integrity_bench.measure()`` when it has landed."""
    try:
        module = importlib.import_module("payload.integrity_bench")
    except ImportError:
        return {"status": "not measured: payload.integrity_bench is not in this build yet"}
    measure = getattr(module, "measure", None)
    if measure is None:
        return {"status": "not measured: payload.integrity_bench has no measure()"}
    result = measure()
    return dict(result) if isinstance(result, dict) else {"result": result}


def bench_payload(batch: int = 16, rounds: int = ROUNDS, jobs_per_round: int = JOBS_PER_ROUND,
                  intra_op_threads: int = 1) -> dict[str, Any]:
    models = [bench_model(path, batch=batch, rounds=rounds, jobs_per_round=jobs_per_round,
                          intra_op_threads=intra_op_threads) for path in shipped_models()]
    if not models:
        raise BenchError("no shipped model (payload/models/*.onnx with its .json card)")
    from payload.model import DEFAULT_MODEL_PATH

    head = next((m for m in models if m["file"] == DEFAULT_MODEL_PATH.name), models[0])
    return {
        "throughput_ratio_to_bare": head["throughput_ratio_to_bare"],
        "p99_latency_ms": head["p99_latency_ms"],
        "p50_latency_ms": head["p50_latency_ms"],
        "model": head["model"],
        "worst_throughput_ratio_to_bare": min(m["throughput_ratio_to_bare"] for m in models),
        "inference_thread_ratio_to_bare": head["inference_thread_ratio_to_bare"],
        "cpu_efficiency_ratio_to_bare": head["cpu_efficiency_ratio_to_bare"],
        "models": models,
        "integrity": integrity_slot(),
    }


def _format(result: dict[str, Any]) -> str:
    lines = ["payload benchmark: the payload process (jobs over the executive's protocol) "
             "vs bare onnxruntime, same model, batch and threads, alternating rounds"]
    for m in result["models"]:
        cpu = m["cpu_us_per_tile"]
        lines += [
            f"  {m['model']} ({m['file']}), batch {m['batch']}, {m['intra_op_threads']} "
            f"intra-op thread(s), {m['rounds']} rounds of {m['jobs_per_round']} jobs",
            f"    throughput   payload {m['payload_tiles_per_s']:>9,.1f} tiles/s   bare "
            f"{m['bare_tiles_per_s']:>9,.1f} tiles/s   ratio {m['throughput_ratio_to_bare']:.3f}"
            f" (rounds: {', '.join(f'{r:.2f}' for r in m['throughput_ratio_per_round'])};"
            f" all tiles over all time: {m['throughput_ratio_of_totals']})",
            f"    CPU per tile bare {_us(cpu['bare'])}, payload process "
            f"{_us(cpu['payload_process'])} (its inference thread "
            f"{_us(cpu['payload_inference_thread'])}); cores used: bare "
            f"{m['cores_used']['bare']}, payload {m['cores_used']['payload_process']} "
            f"(its inference thread {m['cores_used']['payload_inference_thread']})",
            f"    per job: inference thread {_per_job(m['inference_thread_us_per_job'])}; "
            f"bare {_per_job(m['bare_us_per_job'])}",
            f"    CPU ratios to bare: whole payload {m['cpu_efficiency_ratio_to_bare']}, "
            f"its inference thread {m['inference_thread_ratio_to_bare']} (the throughput "
            f"ratio when each payload thread has a core), its session alone "
            f"{m['session_cpu_ratio_to_bare']}",
            f"    latency      payload p50 {m['p50_latency_ms']:.2f} ms p99 "
            f"{m['p99_latency_ms']:.2f} ms   bare p50 {m['bare_p50_latency_ms']:.2f} ms p99 "
            f"{m['bare_p99_latency_ms']:.2f} ms",
        ]
        pr = m["products"]
        lines.append(
            f"    products     {pr['jobs']} jobs, {pr['tiles']} tiles: accuracy "
            f"{pr['accuracy']:.1%} vs the camera's labels; {pr['selected']} clear tiles sent "
            f"({pr['tile_bytes_sent']:,} B zlib) instead of all ({pr['all_tile_bytes']:,} B "
            f"zlib, {pr['raw_float32_bytes']:,} B float32): "
            f"{pr['downlink_saved_frac']:.1%} saved")
    lines.append(f"  integrity: {json.dumps(result['integrity'])}")
    return "\n".join(lines)


def _per_job(times: dict[str, float] | None) -> str:
    if times is None:
        return "?"
    return ", ".join(f"{k.replace('_', ' ')} {v:,.0f} us" for k, v in times.items())


def _us(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} us"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("payload", help="payload process vs bare onnxruntime (throughput, "
                       "p50/p99 latency) for every shipped model; throttle curve with "
                       "--throttle")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--batch", type=int, default=16, help="tiles per job (default 16)")
    p.add_argument("--rounds", type=int, default=ROUNDS)
    p.add_argument("--jobs", type=int, default=JOBS_PER_ROUND,
                   help=f"jobs per round (default {JOBS_PER_ROUND})")
    p.add_argument("--throttle", action="store_true", help="instead: CPU use and "
                   "throughput against duty cycle and intra-op threads (the curve)")


def run(args: argparse.Namespace) -> int:
    if args.batch < 1 or args.rounds < 1 or args.jobs < 2:
        print("aisat bench payload: --batch, --rounds >= 1 and --jobs >= 2", file=sys.stderr)
        return 2
    if args.throttle:
        from payload.throttle_bench import bench_throttle, format_curve

        curve = bench_throttle()
        print(json.dumps(curve) if args.json else format_curve(curve))
        return 0
    try:
        result = bench_payload(args.batch, args.rounds, args.jobs)
    except BenchError as exc:
        print(f"aisat bench payload: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result) if args.json else _format(result))
    return 0


__all__ = ["add_parser", "bench_model", "bench_payload", "run"]
