"""Validate an uploaded model in a child process before it may ever be activated.

``python -m payload.sandbox MODEL.onnx --memory-mb 768 --cpu-s 20`` loads the file with
onnxruntime and runs one dry inference at its declared input shape, under limits the
kernel enforces (``resource.setrlimit``: address space and CPU seconds), and prints one
JSON line: ``{"ok": true, ...card facts...}`` or ``{"ok": false, "reason": ...}``.

Why a child: a malformed model can crash onnxruntime's C++ (a segfault or an abort kills
the whole process: with onnxruntime 1.31.1 a Split-18 node with more outputs than its
``num_outputs`` aborts inside ``InferenceSession(...)``, see
``tests/payload/bad_models.py``), hang it, or make it allocate without bound. In a child all three
cost only the child; the parent (:mod:`flightsw.model_files`) maps the exit to a reason
and also enforces a wall-clock deadline (a model that sleeps in a custom op uses no CPU).

The checks go beyond "it loads": the model must eat what the camera makes
(one float32 input ``[N, 4, 32, 32]``) and emit one float32 value per tile in 0..1, or
every job it ran would fail in flight.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any

EXIT_OK = 0
EXIT_REJECTED = 2
DRY_BATCH = 2


def set_limits(memory_mb: int, cpu_s: int) -> None:
    """Address space and CPU time, hard limits: past them the kernel ends the child."""
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_s > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))


def check(blob: bytes) -> dict[str, Any]:
    """Load and dry-run ``blob``; returns the verdict (``ok`` and facts, or a reason)."""
    import numpy as np
    import onnxruntime as ort

    from payload.camera import N_BANDS, TILE_PX

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    t0 = time.perf_counter()
    try:
        session = ort.InferenceSession(blob, sess_options=options,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # InvalidProtobuf, Fail, NotImplemented...
        return {"ok": False, "reason": f"onnxruntime cannot load it: "
                                       f"{type(exc).__name__}: {str(exc)[:300]}"}
    load_ms = (time.perf_counter() - t0) * 1e3
    from payload.errors import ModelError
    from payload.model_weights import decode_initializers

    try:  # the payload decodes the weights into its own arrays (scrubbing): here first
        decode_initializers(blob)
    except ModelError as exc:
        return {"ok": False, "reason": f"weights cannot be decoded: {exc}"}
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        return {"ok": False, "reason": f"needs one input and one output, has "
                                       f"{len(inputs)} and {len(outputs)}"}
    inp, out = inputs[0], outputs[0]
    want = [N_BANDS, TILE_PX, TILE_PX]
    shape = list(inp.shape)
    fixed = [d if isinstance(d, int) else None for d in shape[1:]]
    if inp.type != "tensor(float)" or len(shape) != 4 or any(
            f is not None and f != w for f, w in zip(fixed, want, strict=False)):
        return {"ok": False, "reason": f"input {inp.name} is {inp.type} {shape}; the camera "
                                       f"makes float32 [N, {N_BANDS}, {TILE_PX}, {TILE_PX}]"}
    probe = np.random.default_rng(0).uniform(0, 1, (DRY_BATCH, *want)).astype(np.float32)
    t1 = time.perf_counter()
    try:
        (result,) = session.run([out.name], {inp.name: probe})
    except Exception as exc:
        return {"ok": False, "reason": f"dry inference failed: {type(exc).__name__}: "
                                       f"{str(exc)[:300]}"}
    infer_ms = (time.perf_counter() - t1) * 1e3
    values = np.asarray(result, dtype=np.float64).reshape(-1)
    if values.shape[0] != DRY_BATCH:
        return {"ok": False, "reason": f"dry inference gave {values.shape[0]} values for "
                                       f"{DRY_BATCH} tiles"}
    if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values > 1):
        return {"ok": False, "reason": "dry inference output is not a probability in 0..1"}
    meta = session.get_modelmeta().custom_metadata_map
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"ok": True, "input_name": inp.name, "input_shape": _dims(shape),
            "output_name": out.name, "output_shape": _dims(list(out.shape)),
            "threshold": _threshold(meta.get("threshold")), "load_ms": round(load_ms, 1),
            "infer_ms": round(infer_ms, 2), "peak_rss_mb": round(peak_mb, 1)}


def _dims(shape: list[Any]) -> list[Any]:
    return [d if isinstance(d, int) else (d or "N") for d in shape]


def _threshold(value: str | None) -> float:
    try:
        t = float(value) if value is not None else 0.5
    except ValueError:
        return 0.5
    return t if 0.0 <= t <= 1.0 else 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payload.sandbox",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--memory-mb", type=int, default=768)
    parser.add_argument("--cpu-s", type=int, default=20)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        with open(args.model, "rb") as f:
            blob = f.read()
    except OSError as exc:
        print(json.dumps({"ok": False, "reason": f"cannot read the file: {exc}"}))
        return EXIT_REJECTED
    set_limits(args.memory_mb, args.cpu_s)
    try:
        verdict = check(blob)
    except MemoryError:
        verdict = {"ok": False, "reason": f"exceeded the sandbox memory limit "
                                          f"({args.memory_mb} MB)"}
    print(json.dumps(verdict), flush=True)
    return EXIT_OK if verdict["ok"] else EXIT_REJECTED


if __name__ == "__main__":
    sys.exit(main())
