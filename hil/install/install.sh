#!/usr/bin/env bash
# Install aisat's flight executive on a board (Jetson with JetPack 6 / Python 3.10,
# Raspberry Pi OS bookworm / Python 3.11) as a systemd service: a service user, a
# virtualenv under /opt/aisat, the configuration under /etc/aisat, the unit files
# (Type=notify, WatchdogSec=) enabled and started. Step by step in docs/hil.md.
#
#   sudo hil/install/install.sh --plant tcp://HOST:5601 --link serial:/dev/ttyTHS1?baud=921600
#   hil/install/install.sh --root /tmp/board --dry-run ...   # CI: files under DIR, commands printed
#
# Options:
#   --plant ENDPOINT   the host's plant bus (the simulated spacecraft), e.g. tcp://10.0.0.2:5601
#   --link ENDPOINT    the space link: serial:/dev/ttyTHS1?baud=921600 (Jetson UART1),
#                      serial:/dev/ttyAMA0?baud=921600 (Pi), or tcp://0.0.0.0:5603 (Ethernet)
#   --profile NAME     spacecraft profile whose flight limits to use (default cubesat-jetson)
#   --board CHOICE     the compute's sensing (default auto: this board's zones and rails)
#   --root DIR         with --dry-run: write the files under DIR instead of / (CI; a
#                      virtualenv is not relocatable, so a real install is always to /)
#   --dry-run          write the files (under --root), print every other command, run none
#   --python PY        the interpreter for the venv (default python3; >= 3.10)
#   --ground           also install the ground unit (a host that runs the ground segment)
set -euo pipefail

SRC="$(cd "$(dirname "$0")/../.." && pwd)"
ROOT=""
DRY=0
PLANT=""
LINK=""
PROFILE="cubesat-jetson"
BOARD="auto"
PY="python3"
GROUND=0
USER_NAME="aisat"

die() { echo "install.sh: $*" >&2; exit 2; }
while [ "$#" -gt 0 ]; do
    case "$1" in
        --plant) PLANT="${2:-}"; shift 2 ;;
        --link) LINK="${2:-}"; shift 2 ;;
        --profile) PROFILE="${2:-}"; shift 2 ;;
        --board) BOARD="${2:-}"; shift 2 ;;
        --root) ROOT="${2:-}"; shift 2 ;;
        --python) PY="${2:-}"; shift 2 ;;
        --dry-run) DRY=1; shift ;;
        --ground) GROUND=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ -n "$PLANT" ] || die "--plant ENDPOINT is needed (the host's plant bus, e.g. tcp://10.0.0.2:5601)"
[ -n "$LINK" ] || die "--link ENDPOINT is needed (e.g. serial:/dev/ttyTHS1?baud=921600)"
case "$PLANT" in tcp://*) ;; *) die "--plant must be a tcp:// endpoint, got $PLANT" ;; esac
case "$LINK" in serial:/*|tcp://*) ;; *) die "--link must be serial:/dev/... or tcp://..., got $LINK" ;; esac
case "$BOARD" in auto|none|virtual:/*) ;; *) die "--board must be auto, none or virtual:/PATH, got $BOARD" ;; esac
if [ -n "$ROOT" ]; then
    [ "$DRY" -eq 1 ] || die "--root is for --dry-run (a virtualenv made under DIR would not run from /)"
    mkdir -p "$ROOT" || die "cannot create --root $ROOT"
    ROOT="$(cd "$ROOT" && pwd)"
elif [ "$DRY" -eq 1 ]; then
    die "--dry-run writes its files under --root DIR (give one)"
elif [ "$(id -u)" -ne 0 ]; then
    die "installing under / needs root (sudo), or use --root DIR --dry-run"
fi

# --- checks: the interpreter the board ships ------------------------------------------------
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$PY is older than Python 3.10 (JetPack 6 ships 3.10, bookworm 3.11)"
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
PYTHONPATH="$SRC" "$PY" - "$PROFILE" <<'PYCHECK' || die "unknown profile $PROFILE"
import sys
from hil.plant import load_profile
load_profile(sys.argv[1])
PYCHECK

run() {  # a command that changes the system: printed in a dry run, run otherwise
    if [ "$DRY" -eq 1 ]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}
put() {  # install a file with a mode; always written (under --root in a dry run)
    local mode="$1" src="$2" dest="$ROOT$3"
    mkdir -p "$(dirname "$dest")"
    install -m "$mode" "$src" "$dest"
    echo "wrote $dest"
}

echo "== aisat install: Python $PYVER, profile $PROFILE, link $LINK, plant $PLANT, root ${ROOT:-/}"

# --- 1. the service user: no login, no home; dialout for the UART, video for the GPU ----------
if ! id "$USER_NAME" >/dev/null 2>&1 || [ -n "$ROOT" ]; then
    run useradd --system --no-create-home --shell /usr/sbin/nologin --user-group \
        ${ROOT:+--root "$ROOT"} "$USER_NAME"
fi
run usermod ${ROOT:+--root "$ROOT"} -a -G dialout,video "$USER_NAME"

# --- 2. the virtualenv, owned by root, readable by the service ------------------------------
VENV=/opt/aisat/venv
run "$PY" -m venv "$ROOT$VENV"
run "$ROOT$VENV/bin/pip" install --upgrade pip
run "$ROOT$VENV/bin/pip" install "$SRC"

# --- 3. configuration: the environment the unit reads, the flight limits ---------------------
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/flightsw.env" <<ENV
# aisat flight executive (read by aisat-flightsw.service)
AISAT_PLANT=$PLANT
AISAT_LINK=$LINK
AISAT_PROFILE=$PROFILE
AISAT_BOARD=$BOARD
ENV
PYTHONPATH="$SRC" "$PY" - "$PROFILE" >"$TMP/flight_config.json" <<'PYCONF'
import json, sys
from flightsw.config import FlightConfig
from hil.plant import load_profile
print(json.dumps(FlightConfig.from_mapping(load_profile(sys.argv[1]).flight).to_dict(), indent=2))
PYCONF
if [ -e "$ROOT/etc/aisat/flightsw.env" ] && [ "$DRY" -eq 0 ]; then
    echo "kept $ROOT/etc/aisat/flightsw.env (exists; the new one is $ROOT/etc/aisat/flightsw.env.new)"
    put 0644 "$TMP/flightsw.env" /etc/aisat/flightsw.env.new
else
    put 0644 "$TMP/flightsw.env" /etc/aisat/flightsw.env
fi
put 0644 "$TMP/flight_config.json" /etc/aisat/flight_config.json

# --- 4. the units: Type=notify, WatchdogSec= (hil/service_policy.py's numbers) --------------
put 0644 "$SRC/hil/systemd/aisat-flightsw.service" /etc/systemd/system/aisat-flightsw.service
if [ "$GROUND" -eq 1 ]; then
    put 0644 "$SRC/hil/systemd/aisat-ground.service" /etc/systemd/system/aisat-ground.service
fi
grep -q '^Type=notify' "$ROOT/etc/systemd/system/aisat-flightsw.service" \
    && grep -q '^WatchdogSec=' "$ROOT/etc/systemd/system/aisat-flightsw.service" \
    || die "the flightsw unit lost Type=notify or WatchdogSec="

# --- 5. enabled and started --------------------------------------------------------------------
if [ "$DRY" -eq 1 ]; then
    SYSTEMCTL=(systemctl ${ROOT:+--root="$ROOT"})
    run "${SYSTEMCTL[@]}" enable aisat-flightsw.service
    [ "$GROUND" -eq 0 ] || run "${SYSTEMCTL[@]}" enable aisat-ground.service
    echo "+ systemctl daemon-reload && systemctl start aisat-flightsw  # on the booted board"
else
    run systemctl daemon-reload
    run systemctl enable --now aisat-flightsw.service
    [ "$GROUND" -eq 0 ] || run systemctl enable --now aisat-ground.service
    run systemctl --no-pager status aisat-flightsw.service
fi
echo "== done: journalctl -u aisat-flightsw -f shows the executive; aisat board shows the board"
