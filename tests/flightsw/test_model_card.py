"""Model cards: one record from the shipped card files through the hashed dictionary to
the ground, and a check that a card says what onnxruntime reports of its model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flightsw.catalog import DICTIONARY_VERSION, build_dictionary, declarations
from flightsw.config import FlightConfig
from flightsw.dictionary import Dictionary
from flightsw.errors import DictionaryError
from flightsw.model_card import (
    SHIPPED_MODELS_DIR,
    ModelCard,
    ModelCardError,
    contradictions,
    parse_shape,
    shape_text,
    shipped_cards,
)
from payload.model import DEFAULT_MODEL_PATH, sha256_hex
from payload.sandbox import check


def test_the_dictionary_carries_every_shipped_models_card() -> None:
    d = build_dictionary()
    files = sorted(SHIPPED_MODELS_DIR.glob("*.json"))
    assert len(d.models) == len(files) == 2
    for path in files:
        raw = json.loads(path.read_text())
        card = next(m for m in d.models if m.sha256 == raw["sha256"])
        onnx = path.with_name(raw["file"])
        assert sha256_hex(onnx.read_bytes()) == card.sha256  # the card is its file's
        assert (card.name, card.version, card.power_class) == (
            raw["name"], raw["version"], raw["power_class"])
        assert card.accuracy == raw.get("accuracy", raw["held_out"]["accuracy"])
        assert card.input_shape == raw["inputs"][0]["shape"] == ["N", 4, 32, 32]
    assert [m["name"] for m in d.to_json()["models"]] == ["cloud_screen", "cloud_screen_cnn"]


def test_the_hash_covers_the_cards_and_they_round_trip() -> None:
    d = build_dictionary()
    exported = json.loads(json.dumps(d.to_json()))
    back = Dictionary.from_json(exported)
    assert back.models == d.models and back.hash == d.hash
    tampered = json.loads(json.dumps(exported))
    tampered["models"][0]["accuracy"] = 0.999  # a better card than the model earned
    with pytest.raises(DictionaryError, match="hash does not match"):
        Dictionary.from_json(tampered)
    without = Dictionary.build(DICTIONARY_VERSION, declarations(FlightConfig()))
    assert without.hash != d.hash and "models" not in without.to_json()
    broken = json.loads(json.dumps(exported))
    del broken["models"][0]["inputs"]
    broken.pop("hash")
    with pytest.raises(DictionaryError, match="bad model card"):
        Dictionary.from_json(broken)


def test_a_model_listed_twice_is_refused() -> None:
    card = shipped_cards()[0]
    with pytest.raises(DictionaryError, match="appears twice"):
        Dictionary.build("1", [], [card, card])


def _card(**changes: Any) -> dict[str, Any]:
    base = shipped_cards()[0].to_json()
    return {**base, **changes}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"inputs": []}, "malformed"),
    ({"inputs": [{"name": "tiles", "shape": ["N", 0, 32]}]}, "positive ints or names"),
    ({"outputs": [{"name": "", "shape": ["N"]}]}, "non-empty string"),
    ({"sha256": "abc"}, "64 hex digits"),
    ({"power_class": "warp"}, "power_class unknown"),
    ({"accuracy": 1.5}, "accuracy must be in 0..1"),
    ({"accuracy": "high"}, "must be a number"),
    ({"version": None}, "non-empty string"),
])
def test_bad_cards_are_refused_naming_the_field(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ModelCardError, match=reason):
        ModelCard.from_json(_card(**changes))


def test_a_missing_field_is_named() -> None:
    data = _card()
    del data["power_class"]
    with pytest.raises(ModelCardError, match="lacks a field") as err:
        ModelCard.from_json(data)
    assert err.value.details["field"] == "power_class"


def test_shapes_travel_as_text_and_back() -> None:
    assert shape_text(["N", 4, 32, 32]) == "N,4,32,32"
    assert parse_shape("N, 4,32,32") == ["N", 4, 32, 32]
    for bad in ("", "N,,4", "N,-4", "N,0"):
        with pytest.raises(ModelCardError, match="not a shape"):
            parse_shape(bad)


def test_the_shipped_cards_say_what_onnxruntime_reports() -> None:
    for card in shipped_cards():
        onnx = SHIPPED_MODELS_DIR / json.loads(
            (SHIPPED_MODELS_DIR / f"{card.name}_v{card.version}.json").read_text())["file"]
        facts = check(onnx.read_bytes())
        assert facts["ok"], facts
        assert contradictions(card, facts["input_name"], facts["input_shape"],
                              facts["output_name"], facts["output_shape"]) == []


def test_contradictions_name_each_difference() -> None:
    card = ModelCard.from_json(_card())
    assert contradictions(card, "tiles", ["batch", 4, 32, 32], "cloud_prob", ["n"]) == []
    found = contradictions(card, "pixels", ["N", 3, 32, 32], "cloud_prob", ["N", 1])
    assert found == ["card input name 'tiles', model has 'pixels'",
                     "card input shape [N,4,32,32], model has [N,3,32,32]",
                     "card output shape [N], model has [N,1]"]
    assert contradictions(card, "tiles", [1, 4, 32, 32], "cloud_prob", ["N"]) == [
        "card input shape [N,4,32,32], model has [1,4,32,32]"]


def test_an_unreadable_shipped_card_is_an_error_not_a_lost_model(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ModelCardError, match="unreadable"):
        shipped_cards(tmp_path)


def test_the_default_model_is_among_the_shipped_cards() -> None:
    assert sha256_hex(DEFAULT_MODEL_PATH.read_bytes()) in {c.sha256 for c in shipped_cards()}
