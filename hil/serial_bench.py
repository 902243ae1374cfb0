"""``aisat bench serial``: what the UART link to a board carries, computed and measured.

Computed (from :mod:`flightsw.framing`, exact for 8N1): the framing overhead and the
goodput at 115200 and 921600 baud, for a range of frame sizes and for the executive's
own downlink mix (the frames a minute of the in-process harness downlinks).

Measured: the same downlink mix pushed through two :class:`SerialTransport` ends on a
pty pair (the virtual board's UART) as fast as the software and kernel go, and the
framer alone (encode + deframe in memory). A pty has no baud rate, so these are the
ceiling the software puts on a link; the ratios to each line rate say whether the
software keeps up with the wire (a ratio above 1 means the line, not the code, is the
limit). Prints ratios, asserts nothing.

    python -m hil.bench serial [--json] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from flightsw.framing import (
    LINE_BITS_PER_BYTE,
    Deframer,
    encode_frames,
    goodput_bytes_per_s,
    overhead_bytes,
)
from flightsw.serial_transport import SerialTransport, open_port

BAUDS = (115_200, 921_600)
SIZES = (32, 128, 512, 2048, 8192)
MIX_SECONDS = 60


def downlink_mix(seconds: int = MIX_SECONDS) -> list[bytes]:
    """The frames the executive downlinks in ``seconds`` of nominal flight (harness)."""
    from flightsw.harness import Harness

    frames: list[bytes] = []
    h = Harness()
    h.link_sink = frames.extend
    h.run(seconds)
    return frames


def computed(mix: list[bytes]) -> dict[str, Any]:
    """Overhead and goodput per baud rate, by frame size and for the downlink mix."""
    mix_payload = sum(len(f) for f in mix)
    mix_wire = len(encode_frames(mix))
    out: dict[str, Any] = {
        "by_size": [{"payload_bytes": n, "overhead_bytes": overhead_bytes(n),
                     "overhead_pct": 100 * overhead_bytes(n) / n,
                     **{f"goodput_Bps_{b}": goodput_bytes_per_s(b, n) for b in BAUDS}}
                    for n in SIZES],
        "mix": {"frames": len(mix), "payload_bytes": mix_payload, "wire_bytes": mix_wire,
                "mean_frame_bytes": mix_payload / max(len(mix), 1),
                "overhead_pct": 100 * (mix_wire - mix_payload) / max(mix_payload, 1),
                "overhead_pct_one_per_batch": 100 * sum(overhead_bytes(len(f)) for f in mix)
                / max(mix_payload, 1)},
    }
    for b in BAUDS:
        line = b / LINE_BITS_PER_BYTE
        out["mix"][f"goodput_Bps_{b}"] = line * mix_payload / max(mix_wire, 1)
        out["mix"][f"records_per_s_{b}"] = line * len(mix) / max(mix_wire, 1)
    return out


def measure_framer(mix: list[bytes], seconds: float) -> dict[str, float]:
    """Encode + deframe in memory: payload bytes per second of CPU, one core."""
    done = 0
    t0 = time.perf_counter()
    while True:
        d = Deframer()
        got = d.feed(encode_frames(mix))
        done += sum(len(f) for f in got)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
    return {"payload_Bps": done / elapsed}


def measure_pty(mix: list[bytes], seconds: float, baud: int = 921_600) -> dict[str, float]:
    """The mix through two serial transports on a pty pair, as fast as they go."""
    from hil.virtual_uart import open_pty_pair

    pair = open_pty_pair()
    board = SerialTransport(open_port(pair.slave_path, baud))
    host = SerialTransport(pair.master)
    sent = received = payload = 0
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            while sent - received < 2 * len(mix) and board.tx_pending_bytes < 1 << 20:
                board.send(mix[sent % len(mix)])
                sent += 1
            board.flush()
            host.wait(0.001)
            for f in host.receive():
                received += 1
                payload += len(f)
        elapsed = time.perf_counter() - t0
    finally:
        board.close()
        pair.close()
    rx = host.deframer.counters
    return {"seconds": elapsed, "frames": received, "payload_Bps": payload / elapsed,
            "wire_Bps": rx.wire_bytes / elapsed, "discards": rx.discards}


def bench_serial(seconds: float = 2.0) -> dict[str, Any]:
    mix = downlink_mix()
    result: dict[str, Any] = {"computed": computed(mix)}
    result["framer"] = measure_framer(mix, seconds / 2)
    result["pty"] = measure_pty(mix, seconds)
    for b in BAUDS:
        line = b / LINE_BITS_PER_BYTE
        result["pty"][f"x_line_{b}"] = result["pty"]["wire_Bps"] / line
        result["framer"][f"x_goodput_{b}"] = (result["framer"]["payload_Bps"]
                                              / result["computed"]["mix"][f"goodput_Bps_{b}"])
    return result


def _format(r: dict[str, Any]) -> str:
    c, mix = r["computed"], r["computed"]["mix"]
    lines = ["aisat bench serial: COBS + CRC-16 framing on a UART (8N1)",
             "  frame bytes  overhead      goodput 115200      goodput 921600"]
    for row in c["by_size"]:
        lines.append(f"  {row['payload_bytes']:>11}  {row['overhead_bytes']:>4.0f} B "
                     f"{row['overhead_pct']:>5.2f} %  {row['goodput_Bps_115200']:>10,.0f} B/s"
                     f"  {row['goodput_Bps_921600']:>12,.0f} B/s")
    lines.append(f"  downlink mix: {mix['frames']} frames, mean {mix['mean_frame_bytes']:.0f} B,"
                 f" overhead {mix['overhead_pct']:.2f} % sent together, at most "
                 f"{mix['overhead_pct_one_per_batch']:.2f} % one at a time")
    for b in BAUDS:
        lines.append(f"    at {b:>7} baud: {mix[f'goodput_Bps_{b}']:>10,.0f} B/s goodput, "
                     f"{mix[f'records_per_s_{b}']:>7,.1f} records/s")
    p, f = r["pty"], r["framer"]
    lines.append(f"  measured over a pty: {p['payload_Bps']:,.0f} B/s payload, "
                 f"{p['wire_Bps']:,.0f} B/s on the wire, {p['discards']} discards")
    lines.append("    = " + ", ".join(f"{p[f'x_line_{b}']:.1f}x the {b} line rate"
                                      for b in BAUDS))
    lines.append(f"  framer alone (encode + deframe, one core): {f['payload_Bps']:,.0f} B/s = "
                 + ", ".join(f"{f[f'x_goodput_{b}']:.1f}x the {b} goodput" for b in BAUDS))
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serial", help="UART framing overhead and goodput (115200, 921600 "
                       "baud), computed and measured over a pty")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--seconds", type=float, default=2.0, help="measuring time (default 2)")


def run(args: argparse.Namespace) -> int:
    if not args.seconds > 0:
        print("aisat bench serial: --seconds must be positive", file=sys.stderr)
        return 2
    result = bench_serial(args.seconds)
    print(json.dumps(result) if args.json else _format(result))
    return 0


__all__ = ["add_parser", "bench_serial", "computed", "downlink_mix", "run"]
