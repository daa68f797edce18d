"""Records are written as compact UTF-8 JSON, the values exactly as the API sent them."""

from __future__ import annotations

import json

from leadlex_exporter.group import dumps
from leadlex_exporter.jsoncodec import _ENCODER, encode


def test_a_record_is_written_as_the_json_module_would_write_it():
    record = {
        "id": "evt_1",
        "type": "clicked",
        "timestamp": "2026-11-20T10:11:12Z",
        "metadata": {"ü": "naïve ✓", "n": 3, "f": 0.1, "big": 2**63, "none": None, "l": [1, "a"]},
    }
    assert encode(record) == _ENCODER.encode(record).encode()
    assert dumps(record).endswith(b"\n")


def test_values_past_64_bits_and_lone_surrogates_keep_their_exact_value():
    record = {"id": "evt_1", "metadata": {"huge": 10**30, "neg": -(2**64), "s": "\ud800x"}}
    text = encode(record)
    assert json.loads(text) == record  # valid UTF-8: the surrogate stays an escape


def test_a_float_json_cannot_hold_becomes_null_so_the_line_stays_json():
    record = json.loads('{"id": "evt_1", "a": NaN, "b": Infinity, "c": 1e400}')
    assert json.loads(encode(record)) == {"id": "evt_1", "a": None, "b": None, "c": None}


def test_an_event_with_a_lone_surrogate_is_exported_and_notified(stack, api, clock):
    from tests.conftest import run_exporter
    from tests.fakes import make_events

    api.keys["wbk_" + "s" * 52] = "acme"
    api.campaigns["acme"] = [{"id": "cmp_a", "status": "active"}]
    events = make_events("cmp_a", 3, clock.now(), 60, types=("clicked",))
    events[1]["id"] = "evt_\ud800"  # "\ud800" is valid JSON escape syntax
    events[2]["metadata"] = {"note": "x\udfff"}
    api.events["cmp_a"] = events
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": "wbk_" + "s" * 52}]})

    result = run_exporter(stack, clock, api)

    assert result["status"] == "ok", result
    assert sorted(r["id"] for _, r in stack.records()) == sorted(e["id"] for e in events)
    assert len(stack.messages()) == 3
