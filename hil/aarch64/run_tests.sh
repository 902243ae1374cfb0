#!/usr/bin/env bash
# The board layer and the UART framing under an emulated aarch64 (a Jetson's or a Pi's
# CPU): Debian bookworm arm64's python3 run by qemu-user (no binfmt needed), with
# aarch64 wheels of the dependencies, on the flight code of this checkout.
#
#   hil/aarch64/run_tests.sh [pytest args...]   # default: tests/board tests/serial/test_framing.py
#
# Built from nothing on a fresh machine (root: apt-get and debootstrap), then cached in
# $AISAT_AARCH64_CACHE (default ~/.cache/aisat/aarch64): the rootfs (debootstrap's foreign
# first stage with its packages unpacked - no second stage, nothing runs as arm64 but
# python) and the wheels (pip --platform manylinux aarch64, --only-binary). Measured on
# a loaded 2-core host: 3m39s from nothing (rootfs, unpack, wheels, 62 tests), then only
# the tests. onnxruntime is not needed here; for the emulated payload pin 1.22-1.26
# (1.28 and later crash on import under Debian 12's qemu-user 7.2).
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${AISAT_AARCH64_CACHE:-$HOME/.cache/aisat/aarch64}"
ROOTFS="$CACHE/rootfs"
SITE="$CACHE/site-cp311"
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
# an interpreter a test can start again (sys.executable): a wrapper inside the rootfs, so
# Python still finds its standard library next to it
WRAP="$ROOTFS/usr/local/bin/python3"
mkdir -p "$(dirname "$WRAP")"
cat >"$WRAP" <<WRAPPER
#!/bin/sh
exec qemu-aarch64-static -L "$ROOTFS" -0 "$WRAP" "$ROOTFS/usr/bin/python3.11" "\$@"
WRAPPER
chmod +x "$WRAP"
export PYTHONPATH="$SITE:$PWD"
export PYTHONDONTWRITEBYTECODE=1
"$WRAP" -c 'import platform, sys; print("== aarch64:", platform.machine(), sys.version.split()[0], sys.executable)'
if [ "$#" -eq 0 ]; then
    set -- tests/board tests/serial/test_framing.py
fi
exec "$WRAP" -m pytest -p no:cacheprovider -q "$@"
