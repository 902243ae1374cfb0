"""``aisat ground model upload|list|activate|rollback|delete``: the model store by hand.

Thin: the upload loop is :mod:`ground.model_uplink`, the rest are ordinary commands
(``model.*``, :mod:`flightsw.model_store`) whose verification notes carry the answer.
``list`` prints the model cards: the shipped models' from the dictionary the ground works
from (the one whose hash it checked at HELLO), the uploaded models' from the
``model.validated`` events in the ground archive, and, if a stack runs, the onboard
store's own list (slots and uploads in progress).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from flightsw.catalog import build_dictionary
from flightsw.dictionary import Dictionary
from flightsw.model_card import ModelCard, ModelCardError
from ground.errors import GroundError
from ground.model_uplink import OpsUplink, UploadFailed, plan, upload


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


def uploaded_cards(events: Iterable[Any]) -> list[ModelCard]:
    """The cards the spacecraft sent down when it validated an upload (archived
    ``model.validated`` events), oldest first, each model once."""
    cards: dict[str, ModelCard] = {}
    for ev in events:
        if ev.name != "model.validated" or "card" not in ev.args:
            continue
        try:
            card = ModelCard.from_json(ev.args["card"], source=f"event {ev.id}")
        except ModelCardError:
            continue  # the flight checked it; a mangled one is not a card to show
        cards[card.sha256] = card
    return list(cards.values())


def run(ops_factory: Any, args: argparse.Namespace, out: TextIO,
        dictionary: Callable[[], Dictionary] = build_dictionary) -> int:
    what = args.model_action
    if what == "list":
        return _list(ops_factory, dictionary(), args, out)
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


def _list(ops_factory: Any, dictionary: Dictionary, args: argparse.Namespace,
          out: TextIO) -> int:
    shipped = list(dictionary.models)
    uploaded: list[ModelCard] = []
    onboard = ""
    if not args.shipped_only:
        ops = ops_factory()
        ver = ops.cmd("model.list", check=False)
        onboard = ver.reason if ver.ok else f"(not available: {ver.reason})"
        try:
            uploaded = uploaded_cards(ops.reader().events_after(0))
        except (GroundError, OSError) as exc:
            onboard += f" (archive not readable: {exc})"
    if args.json:
        print(json.dumps({"dictionary": dictionary.version,
                          "shipped": [c.to_json() for c in shipped],
                          "uploaded": [c.to_json() for c in uploaded],
                          "onboard": onboard}, indent=2), file=out)
        return 0
    print(f"shipped (dictionary {dictionary.version}):", file=out)
    for c in shipped:
        print(f"  {c.describe()}", file=out)
    if uploaded:
        print("uploaded (cards archived from model.validated):", file=out)
        for c in uploaded:
            print(f"  {c.describe()}", file=out)
    if onboard:
        print("onboard:", file=out)
        for part in onboard.split("; "):
            print(f"  {part}", file=out)
    return 0
