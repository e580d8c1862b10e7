"""Report: its JSON round trip and schema checks, and its tables (plain and GitHub markdown)."""

import json

import pytest
import torch

import fxcost

tvm = pytest.importorskip("torchvision.models")


def test_json_round_trip():
    model = tvm.resnet18()
    r = fxcost.profile(model, (torch.randn(1, 3, 64, 64),))
    back = fxcost.Report.from_json(r.to_json())
    assert back.total == r.total and back.params == r.params
    assert [n.name for n in back.nodes] == [n.name for n in r.nodes]
    assert back.by_module(2) == r.by_module(2)
    assert json.loads(r.to_json())["schema_version"] == 1


def test_json_schema_mismatch_and_garbage():
    with pytest.raises(fxcost.FxcostError, match="schema_version"):
        fxcost.Report.from_json(json.dumps({"schema_version": 99}))
    with pytest.raises(fxcost.FxcostError, match="not valid JSON"):
        fxcost.Report.from_json("{nope")
    with pytest.raises(fxcost.FxcostError, match="malformed"):
        fxcost.Report.from_json(json.dumps({"schema_version": 1, "model": "x"}))


def test_table_renders():
    r = fxcost.profile(tvm.resnet18(), (torch.randn(1, 3, 224, 224),))
    text = r.table(depth=1)
    assert "ResNet" in text and "1.81 G" in text  # published: 1.814 GMACs
    lines = r.table(depth=1, fmt="github").splitlines()
    assert lines[0].startswith("**fxcost** · ResNet: 11.69 M params, 1.81 G MACs")
    head, rule = lines[2], lines[3]
    assert [c.strip() for c in head.strip("|").split("|")] == ["module", "type", "params", "MACs", "FLOPs", "share"]
    assert rule.startswith("|:---") and rule.count("|") == 7
    # conv1: 64 x 3 x 7 x 7 weights, 112 x 112 outputs of 147 MACs each
    conv1 = next(line for line in lines if "conv1 " in line)
    cells = [c.strip() for c in conv1.strip("|").split("|")]
    assert cells[1:4] == ["Conv2d", f"{64 * 3 * 49 / 1e3:.2f} k", f"{64 * 112 * 112 * 147 / 1e6:.2f} M"]
