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


def test_csv_has_every_module_by_path_with_exact_integers():
    import csv
    import io

    r = fxcost.profile(tvm.resnet18(), (torch.randn(1, 3, 64, 64),))
    rows = list(csv.DictReader(io.StringIO(r.to_csv())))
    by_path = {m.path or "(model)": m for m in r.by_module(None)}
    assert [row["module"] for row in rows] == list(by_path)
    for row in rows:
        m = by_path[row["module"]]
        assert (int(row["MACs"]), int(row["FLOPs"]), int(row["params"]), row["type"]) == (
            m.cost.macs,
            m.cost.flops,
            m.params,
            m.type,
        )
    ops = list(csv.DictReader(io.StringIO(r.to_csv(by="operator"))))
    assert ops[-1]["op"] == "total" and int(ops[-1]["FLOPs"]) == r.total.flops
    assert sum(int(o["MACs"]) for o in ops[:-1]) == r.total.macs


def test_to_pandas_says_how_to_install_it_or_gives_the_table():
    r = fxcost.profile(torch.nn.Linear(4, 4), (torch.randn(2, 4),))
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(fxcost.FxcostError, match="pip install pandas"):
            r.to_pandas()
    else:
        df = r.to_pandas()
        assert list(df["MACs"]) == [32]


def test_notebook_display():
    r = fxcost.profile(tvm.resnet18(), (torch.randn(1, 3, 64, 64),))
    html = r._repr_html_()
    assert html.count("<table") == 2 and "<details>" in html  # depth 1 shown, deeper folded
    shown, folded = html.split("<details>")
    assert "ResNet: 11.69 M params" in shown
    assert shown.count("<tr>") == 1 + len(r.by_module(1)) and folded.count("<tr>") == 1 + len(r.by_module(2))
    assert "&nbsp;&nbsp;conv1" in shown and "&amp;" not in html
    assert r._repr_markdown_() == r.table(fmt="github")
    # every result type that renders a table displays it
    f = fxcost.formula(torch.nn.Linear(4, 4), (torch.randn(2, 4),), dims={"B": [(0, 0)]})
    assert "<pre class='fxcost'>" in f._repr_html_() and f._repr_markdown_() == f.table(fmt="github")


def test_csv_on_the_command_line(capsys):
    from fxcost.cli.main import main

    assert main(["profile", "torchvision:resnet18", "--format", "csv", "--by", "operator"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "op,count,MACs,FLOPs,share" and out.splitlines()[-1].startswith("total,")
    assert main(["profile", "hf:gpt2", "--prompt", "8", "--new-tokens", "2", "--format", "csv"]) == 2
    assert "--format json" in capsys.readouterr().err
