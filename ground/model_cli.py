"""``aisat ground model upload|list|activate|rollback|delete``: the model store by hand.

Thin: the upload loop is :mod:`ground.model_uplink`, the rest are ordinary commands
(``model.*``, :mod:`flightsw.model_store`) whose verification notes carry the answer.
``list`` prints the model cards: the shipped models (``payload/models/*.json``, what the
spacecraft flies with from launch) and, if a stack runs, the onboard store's own list.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from ground.model_uplink import OpsUplink, UploadFailed, plan, upload

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "payload" / "models"
CARD_KEYS = ("name", "version", "sha256", "inputs", "outputs", "power_class", "accuracy")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="model_action", required=True, metavar="WHAT")
    up = sub.add_parser("upload", help="upload an ONNX model (its card MODEL.json beside it) "
                        "in chunks, resending what the link lost; then it is verified onboard")
    up.add_argument("path", type=Path)
    up.add_argument("--activate", action="store_true", help="activate it once validated")
    up.add_argument("--round-wait", type=float, default=60.0, metavar="S",
                    help="seconds to wait for a round of chunks before asking what is missing")
    up.add_argument("--window", type=int, default=48, metavar="N",
                    help="chunks per round (default 48: ~45 s of a 9.6 kbit/s uplink)")
    ls = sub.add_parser("list", help="model cards: shipped, and onboard if a stack runs")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--shipped-only", action="store_true", help="do not ask the spacecraft")
    for name, text in (("activate", "run a stored model"), ("delete", "delete a stored model")):
        a = sub.add_parser(name, help=text)
        a.add_argument("model", help="sha256 prefix (>= 8), name, name_vVERSION or 'shipped'")
        if name == "delete":
            a.add_argument("--confirm", action="store_true",
                           help="model.delete is hazardous: refused without it")
    sub.add_parser("rollback", help="swap back to the previous model")


def shipped_cards(models_dir: Path = SHIPPED_DIR) -> list[dict[str, Any]]:
    """The cards of the models shipped with the flight software."""
    cards = []
    for path in sorted(models_dir.glob("*.json")):
        card = json.loads(path.read_text())
        row = {k: card.get(k) for k in CARD_KEYS}
        if row["accuracy"] is None:
            row["accuracy"] = card.get("held_out", {}).get("accuracy")
        row["file"] = card.get("file", path.with_suffix(".onnx").name)
        row["parameters"] = card.get("parameters")
        row["flops_per_tile"] = card.get("flops_per_tile")
        cards.append(row)
    return cards


def run(ops_factory: Any, args: argparse.Namespace, out: TextIO) -> int:
    what = args.model_action
    if what == "list":
        return _list(ops_factory, args, out)
    ops = ops_factory()
    if what == "upload":
        mark = ops.mark()
        try:
            p = plan(args.path)
            rep = upload(OpsUplink(ops), p, round_wait_s=args.round_wait,
                         window=args.window, progress=lambda msg: print(msg, file=out))
        except UploadFailed as exc:
            print(f"upload failed: {exc}", file=out)
            return 1
        print(f"uploaded {rep.chunks} chunks in {rep.rounds} rounds ({rep.resent} resent); "
              "verifying onboard: watch for model.validated / model.rejected", file=out)
        if args.activate:
            verdict = ops.wait_event(lambda e: e.name in ("model.validated", "model.rejected"),
                                     timeout_s=120.0, since=mark)
            if verdict.name == "model.rejected":
                print(f"not activated: {verdict.text}", file=out)
                return 1
            ver = ops.cmd("model.activate", check=False, model=p.sha256[:16])
            print(f"activate: {ver}", file=out)
            return 0 if ver.ok else 1
        return 0
    args_for = {"activate": {"model": getattr(args, "model", "")},
                "delete": {"model": getattr(args, "model", "")}, "rollback": {}}
    ver = ops.cmd_args(f"model.{what}", args_for[what], check=False,
                       confirm=bool(getattr(args, "confirm", False)))
    print(f"{ver}", file=out)
    return 0 if ver.ok else 1


def _list(ops_factory: Any, args: argparse.Namespace, out: TextIO) -> int:
    cards = shipped_cards()
    onboard = ""
    if not args.shipped_only:
        ver = ops_factory().cmd("model.list", check=False)
        onboard = ver.reason if ver.ok else f"(not available: {ver.reason})"
    if args.json:
        print(json.dumps({"shipped": cards, "onboard": onboard}, indent=2), file=out)
        return 0
    for c in cards:
        shape = c["inputs"][0]["shape"] if c["inputs"] else "?"
        print(f"{c['name']} v{c['version']}  {c['sha256'][:12]}  in {shape}  power "
              f"{c['power_class']}  accuracy {c['accuracy']}  {c['parameters']} params  "
              f"{c['flops_per_tile']} FLOP/tile", file=out)
    if onboard:
        print("onboard:", file=out)
        for part in onboard.split("; "):
            print(f"  {part}", file=out)
    return 0
