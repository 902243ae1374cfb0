"""``aisat ground model``: the shipped models' cards from the dictionary, uploaded ones from
the archive, and the upload's refusals of a card that is wrong before it goes up."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from flightsw.catalog import build_dictionary
from ground.archive_reader import EventRow
from ground.cli import main
from ground.model_cli import uploaded_cards
from ground.model_uplink import UploadFailed, plan
from tests.model_uplink_harness import camera_card


def test_list_prints_both_shipped_cards_from_the_dictionary(tmp_path: Path) -> None:
    out = io.StringIO()
    run_dir = ["--run-dir", str(tmp_path)]  # no stack there: the built-in dictionary
    assert main([*run_dir, "model", "list", "--shipped-only", "--json"], out=out) == 0
    listing = json.loads(out.getvalue())
    assert listing["dictionary"] == build_dictionary().version
    cards = {c["name"]: c for c in listing["shipped"]}
    assert set(cards) == {"cloud_screen", "cloud_screen_cnn"}
    assert listing["shipped"] == [c.to_json() for c in build_dictionary().models]
    for card in cards.values():
        assert card["inputs"][0]["shape"] == ["N", 4, 32, 32]
        assert card["outputs"][0]["name"] == "cloud_prob"
        assert card["power_class"] in ("low", "medium") and card["accuracy"] > 0.95
    text = io.StringIO()
    assert main([*run_dir, "model", "list", "--shipped-only"], out=text) == 0
    assert "cloud_screen_cnn v1 (2bdfdedb081c) in tiles[N,4,32,32] out cloud_prob[N] power " \
           "medium accuracy 0.9889" in text.getvalue()


def test_uploaded_cards_come_from_the_archived_validation_events() -> None:
    card = {"name": "up", "version": "2", "sha256": "a" * 64,
            "inputs": [{"name": "tiles", "shape": ["N", 4, 32, 32]}],
            "outputs": [{"name": "cloud_prob", "shape": ["N"]}],
            "power_class": "high", "accuracy": 0.9}
    rows = [EventRow(1, 1, 0.0, 0.0, "model.validated", "ACTIVITY_HI", "", {"card": card}),
            EventRow(2, 2, 0.0, 0.0, "model.rejected", "WARNING_LO", "", {}),
            EventRow(3, 3, 0.0, 0.0, "model.validated", "ACTIVITY_HI", "", {"model": "old"}),
            EventRow(4, 4, 0.0, 0.0, "model.validated", "ACTIVITY_HI", "",
                     {"card": {**card, "inputs": []}}),  # mangled: not shown
            EventRow(5, 5, 0.0, 0.0, "model.validated", "ACTIVITY_HI", "", {"card": card})]
    (got,) = uploaded_cards(rows)
    assert got.to_json() == card


def test_a_file_that_does_not_match_its_card_is_not_uploaded(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"abc")
    card = camera_card(b"abc", name="m").to_json()
    (tmp_path / "m.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    with pytest.raises(UploadFailed, match="does not match its card"):
        plan(model)
    (tmp_path / "m.json").write_text(json.dumps({"name": "m", "sha256": card["sha256"]}))
    with pytest.raises(UploadFailed, match="lacks a field: inputs"):
        plan(model)
    (tmp_path / "m.json").write_text(json.dumps({**card, "power_class": "warp"}))
    with pytest.raises(UploadFailed, match="power_class unknown"):
        plan(model)
    (tmp_path / "m.json").write_text(json.dumps(card))
    assert plan(model).begin_args()["input_shape"] == "N,4,32,32"
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(UploadFailed, match="model card"):
        plan(model)
