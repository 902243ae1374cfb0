#!/usr/bin/env bash
# The board layer and the UART framing under an emulated aarch64 (a Jetson's or a Pi's
# CPU): Debian bookworm arm64's python3 run by qemu-user (no binfmt needed), with
# aarch64 wheels of the dependencies, on the flight code of this checkout.
#
#   hil/aarch64/run_tests.sh [pytest args...]   # default: tests/board tests/serial/test_framing.py
#   hil/aarch64/run_tests.sh --scenario [ORBITS] # the executive and payload on aarch64, the
#                                                # plant, bridge and ground here, over a pty UART
#
# Built from nothing on a fresh machine (root: apt-get and debootstrap), then cached in
# $AISAT_AARCH64_CACHE (default ~/.cache/aisat/aarch64): the rootfs (debootstrap's foreign
# first stage with its packages unpacked - no second stage, nothing runs as arm64 but
# python) and the wheels (pip --platform manylinux aarch64, --only-binary). Measured on
# a loaded 2-core host: 3m39s from nothing (rootfs, unpack, wheels, 62 tests), then only
# the tests. The scenario's payload needs onnxruntime, pinned to 1.22-1.26 for the
# emulated target only (1.28 and later crash on import under Debian 12's qemu-user 7.2;
# 1.26.0 imports in ~12 s and loads the model in ~2 s here).
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${AISAT_AARCH64_CACHE:-$HOME/.cache/aisat/aarch64}"
ROOTFS="$CACHE/rootfs"
SITE="$CACHE/site-cp311"
SITE_ORT="$CACHE/site-ort"
ORT_PIN="onnxruntime>=1.22,<1.27"
PAYLOAD_WHEELS=(onnx protobuf)  # the payload keeps its weights as arrays (payload.model_weights)
MIRROR="${AISAT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WHEELS=(pytest hypothesis cobs pyserial msgpack pyzmq numpy)

need() { command -v "$1" >/dev/null 2>&1; }
if ! need qemu-aarch64-static || ! need debootstrap; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "aarch64: needs qemu-user-static and debootstrap (apt-get install, as root)" >&2
        exit 2
    fi
    apt-get install -y -q qemu-user-static debootstrap >/dev/null
fi
mkdir -p "$CACHE"
if [ ! -x "$ROOTFS/usr/bin/python3.11" ]; then
    echo "== aarch64: bookworm arm64 rootfs (first stage) into $ROOTFS"
    rm -rf "$ROOTFS.tmp"
    debootstrap --foreign --arch=arm64 --variant=minbase --include=python3 bookworm \
        "$ROOTFS.tmp" "$MIRROR" >"$CACHE/debootstrap.log"
    for deb in "$ROOTFS.tmp"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$ROOTFS.tmp"  # unpacked, never configured: no arm64 scripts
    done
    mv "$ROOTFS.tmp" "$ROOTFS"
fi
if [ ! -f "$SITE/.complete" ]; then
    echo "== aarch64: wheels into $SITE"
    rm -rf "$SITE"
    python3 -m pip install -q --target "$SITE" --python-version 3.11 --implementation cp \
        --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
        --platform manylinux_2_28_aarch64 --only-binary=:all: "${WHEELS[@]}"
    touch "$SITE/.complete"
fi
if [ "${1:-}" = "--scenario" ] && [ ! -f "$SITE_ORT/.complete" ]; then
    echo "== aarch64: $ORT_PIN into $SITE_ORT"
    rm -rf "$SITE_ORT"
    python3 -m pip install -q --target "$SITE_ORT" --python-version 3.11 --implementation cp \
        --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
        --platform manylinux_2_28_aarch64 --only-binary=:all: --no-deps "$ORT_PIN"
    python3 -m pip install -q --target "$SITE_ORT" --python-version 3.11 --implementation cp \
        --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
        --platform manylinux_2_28_aarch64 --only-binary=:all: "${PAYLOAD_WHEELS[@]}"
    touch "$SITE_ORT/.complete"
fi
# an interpreter a test or the executive can start again (sys.executable: the payload
# child): a wrapper inside the rootfs, so Python still finds its standard library next
# to it, that sets the aarch64 path itself, so host processes never see aarch64 wheels
WRAP="$ROOTFS/usr/local/bin/python3"
mkdir -p "$(dirname "$WRAP")"
cat >"$WRAP" <<WRAPPER
#!/bin/sh
export PYTHONPATH="$SITE:$SITE_ORT:$PWD"
export PYTHONDONTWRITEBYTECODE=1
exec qemu-aarch64-static -L "$ROOTFS" -0 "$WRAP" "$ROOTFS/usr/bin/python3.11" "\$@"
WRAPPER
chmod +x "$WRAP"
"$WRAP" -c 'import platform, sys; print("== aarch64:", platform.machine(), sys.version.split()[0], sys.executable)'
if [ "${1:-}" = "--scenario" ]; then
    orbits="${2:-0.06}"  # the first pass begins ~4 min in
    run_dir="$(mktemp -d)/run"
    echo "== aarch64 scenario: executive + payload on aarch64, $orbits orbit over a pty UART"
    python3 -m aisat sim --orbits "$orbits" --link serial --flight-python "$WRAP" \
        --run-dir "$run_dir" --json >"$run_dir.json" || {
        echo "aarch64 scenario failed; logs in $run_dir" >&2; tail -20 "$run_dir/flightsw.log" >&2
        exit 1; }
    python3 - "$run_dir" <<'CHECK'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
summary = json.loads(Path(f"{run}.json").read_text())
stats = json.loads((run / "exec_stats.json").read_text())
print(f"== aarch64 scenario: {summary['jobs_done']} inference jobs, "
      f"{summary['records_archived']} records archived of {stats['records_made']} made, "
      f"{summary['records_onboard_at_end']} held onboard, {summary['wall_time_s']} s wall")
assert summary["stop_reason"] == "scenario complete", summary["stop_reason"]
assert summary["jobs_done"] > 0, "no inference on the emulated board"
assert summary["records_archived"] > 0, "nothing reached the ground over the UART"
assert summary["records_archived"] + summary["records_onboard_at_end"] >= stats["records_made"]
CHECK
    exit 0
fi
if [ "$#" -eq 0 ]; then
    set -- tests/board tests/serial/test_framing.py
fi
exec "$WRAP" -m pytest -p no:cacheprovider -q "$@"
