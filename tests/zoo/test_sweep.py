"""``fxcost sweep``: many models, each in its own worker process; crashes and hangs are rows,
re-runs resume, the CSV is a zoo's cost table, two sweeps diff model by model."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import textwrap

import pytest
import torch

import fxcost
from fxcost.zoo.sweep import expand, read_rows, write_csv

tvm = pytest.importorskip("torchvision.models")
FXCOST = shutil.which("fxcost")

EVIL = textwrap.dedent("""
    import os
    import torch
    from torch import nn

    class Hang(nn.Module):
        def forward(self, x):
            while True:
                pass

    class Abort(nn.Module):
        def forward(self, x):
            os.abort()

    def hang():
        return Hang(), (torch.zeros(1, 3),)

    def abort():
        return Abort(), (torch.zeros(1, 3),)

    def small():
        return nn.Sequential(nn.Linear(3, 5), nn.ReLU()), (torch.zeros(2, 3),)
""")


@pytest.mark.slow
@pytest.mark.skipif(FXCOST is None, reason="fxcost console script not installed")
def test_sweep_survives_hangs_and_crashes_and_resumes(tmp_path):
    (tmp_path / "evil.py").write_text(EVIL)
    cmd = [
        FXCOST,
        "sweep",
        "torchvision:resnet*",
        "evil:hang",
        "evil:abort",
        "--jobs",
        "2",
        "--timeout",
        "20",
        "--out",
        "rows.jsonl",
        "--csv",
        "table.csv",
    ]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr  # some rows failed
    assert "5 ok, 1 timeout, 1 crashed" in r.stderr
    rows = read_rows(str(tmp_path / "rows.jsonl"))
    resnets = [t for t in rows if t.startswith("torchvision:")]
    assert sorted(resnets) == sorted(f"torchvision:{n}" for n in tvm.list_models() if n.startswith("resnet"))
    for target in resnets:
        with torch.device("meta"):
            model = tvm.get_model(target.split(":")[1]).eval()
        serial = fxcost.profile(model, (torch.zeros(1, 3, 224, 224),))
        row = rows[target]
        assert (row["status"], row["macs"], row["flops"], row["bytes"], row["params"]) == (
            "ok",
            serial.total.macs,
            serial.total.flops,
            serial.total.bytes,
            serial.params,
        )
        assert row["input"] == ["1x3x224x224:float32"] and row["complete"] is True
    assert rows["evil:hang"]["status"] == "timeout"
    assert rows["evil:abort"]["status"] == "crashed" and "SIGABRT" in rows["evil:abort"]["error"]
    with open(tmp_path / "table.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["model"] for t in table] == sorted(resnets) + ["evil:hang", "evil:abort"]  # the targets' order
    assert table[0]["gmacs"] == f"{rows[table[0]['model']]['macs'] / 1e9:.4f}"
    # a re-run adds no row; --retry-failed runs the two failures again
    lines = (tmp_path / "rows.jsonl").read_text().count("\n")
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1 and (tmp_path / "rows.jsonl").read_text().count("\n") == lines
    retry = subprocess.run(
        cmd[:-4] + ["--timeout", "5", "--out", "rows.jsonl", "--retry-failed"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert retry.returncode == 1 and (tmp_path / "rows.jsonl").read_text().count("\n") == lines + 2


def test_sweep_from_python_and_diff_two_sweeps(tmp_path, monkeypatch, capsys):
    (tmp_path / "evil.py").write_text(EVIL)
    monkeypatch.chdir(tmp_path)
    rows = fxcost.sweep(["evil:small", "torchvision:alexnet"], out="a.jsonl", jobs=2, flops="2mac")
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert rows[0]["macs"] == 2 * 3 * 5 and rows[0]["flops"] == 2 * rows[0]["macs"] + 2 * 10  # 2mac; bias, relu
    assert rows[0]["params"] == 3 * 5 + 5 and rows[0]["input"] == ["2x3:float32"]
    # a second sweep, as another version of the zoo would give: one model changed, one new
    head = [dict(rows[0], macs=rows[0]["macs"] * 2), rows[1], {"target": "evil:new", "status": "ok", "macs": 7}]
    with open("b.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in head)
    from fxcost.cli.main import main

    capsys.readouterr()
    assert main(["diff", "a.jsonl", "b.jsonl", "--fail-above", "50"]) == 1
    out, err = capsys.readouterr()
    assert "2 model(s) changed" in out and "evil:small" in out and "absent -> ok" in out
    assert "torchvision:alexnet" not in out and "a model's FLOPs/MACs grew +100.00%" in err


def test_globs_rows_and_table(tmp_path):
    assert expand(["torchvision:resnet1*", "torchvision:resnet18", "x.py:make"]) == [
        "torchvision:resnet101",
        "torchvision:resnet152",
        "torchvision:resnet18",
        "x.py:make",
    ]
    assert "hf:llama" in expand(["hf:ll*"])
    with pytest.raises(fxcost.FxcostError, match="matches no model"):
        expand(["torchvision:nothing*"])
    with pytest.raises(fxcost.FxcostError, match="globs work over the zoos"):
        expand(["mypkg:*"])
    with pytest.raises(fxcost.FxcostError, match="unknown options"):
        fxcost.sweep(["torchvision:alexnet"], stric=True)
    with pytest.raises(fxcost.FxcostError, match="cannot write .*no folder"):
        fxcost.sweep(["torchvision:alexnet"], out=str(tmp_path / "missing" / "rows.jsonl"))
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"target": "a", "status": "error", "error": "x"}\n{"target": "a", "status": "ok", '
        '"macs": 2e9, "flops": 4e9, "bytes": 1e9, "params": 3e6, "input": ["1x3"]}\n{"target": "b", "sta'
    )
    rows = read_rows(str(path))  # the last row of a target wins; a line cut short is skipped
    assert list(rows) == ["a"] and rows["a"]["status"] == "ok"
    write_csv(list(rows.values()), str(tmp_path / "t.csv"))
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == "a,1x3,3.000,2.0000,4.0000,1.0000,ok,,"
    assert not os.path.exists(tmp_path / "missing.jsonl") and read_rows(str(tmp_path / "missing.jsonl")) == {}


def test_a_config_that_builds_no_model_alone_says_so():
    from fxcost.zoo.targets import load

    with pytest.raises(fxcost.FxcostError, match="builds no model from the 'align_text_model' config alone"):
        load("hf:align_text_model")
    with pytest.raises(fxcost.FxcostError, match="no causal language model for 'vit'"):
        load("hf:vit", causal_lm=True)
