"""``aisat ground model``: the cards of the shipped models, and the upload's refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ground.cli import main
from ground.model_uplink import UploadFailed, plan


def test_list_prints_both_shipped_cards() -> None:
    out = io.StringIO()
    assert main(["model", "list", "--shipped-only", "--json"], out=out) == 0
    cards = {c["name"]: c for c in json.loads(out.getvalue())["shipped"]}
    assert set(cards) == {"cloud_screen", "cloud_screen_cnn"}
    for card in cards.values():
        assert card["inputs"][0]["shape"] == ["N", 4, 32, 32]
        assert card["outputs"][0]["name"] == "cloud_prob"
        assert card["power_class"] in ("low", "medium") and card["accuracy"] > 0.95
    text = io.StringIO()
    assert main(["model", "list", "--shipped-only"], out=text) == 0
    assert "cloud_screen_cnn v1" in text.getvalue()


def test_a_file_that_does_not_match_its_card_is_not_uploaded(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"abc")
    (tmp_path / "m.json").write_text(json.dumps({"name": "m", "sha256": "0" * 64}))
    with pytest.raises(UploadFailed, match="does not match its card"):
        plan(model)
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(UploadFailed, match="model card"):
        plan(model)
