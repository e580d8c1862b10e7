"""The real `fxcost` console script, in a subprocess, for every subcommand and error case."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

FXCOST = shutil.which("fxcost") or pytest.skip("fxcost console script not installed", allow_module_level=True)


def run(*args, cwd=None):
    """The console script, end to end."""
    return subprocess.run([FXCOST, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def run_in_process(capsys):
    """``fxcost.cli.main.main`` called in this process (what the console script calls), for the
    tests of its messages and exit codes: no interpreter start per call."""
    from fxcost.cli.main import main

    def call(*args):
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return call


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "mymodel.py"
    p.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        def make():
            return nn.Sequential(nn.Linear(8, 4), nn.ReLU())
        def boom():
            raise ValueError("factory exploded")
        not_a_model = 3
    """))
    return p


def test_example_and_python_m():
    r = run("example")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ExampleNet: 239.34 k params, 1.80 G MACs")
    assert "attn" in r.stdout
    # every seed metric at once: FLOPs, MACs, parameters, inference time, FPS, achieved FLOP/s
    head = r.stdout.splitlines()[0]
    assert all(s in head for s in ("params", "MACs", "FLOPs", "ms median on", "FPS", "FLOP/s achieved")), head
    assert "fxcost plot" in r.stdout.splitlines()[-1]
    r2 = subprocess.run([sys.executable, "-m", "fxcost", "profile"], capture_output=True, text=True)
    assert r2.returncode == 0 and r2.stdout.split(" moved")[0] == head.split(" moved")[0]


def test_golden_module_table(model_file):
    r = run("profile", f"{model_file}:make", "--input", "2x8")
    assert r.returncode == 0, r.stderr
    # Linear(8, 4) on 2x8: 64 MACs, 15*8 + 8 = 128 FLOPs; ReLU 8 FLOPs.
    # Bytes: Linear reads x (64) + params (144), writes 32; ReLU reads 32, writes 32: 304
    assert r.stdout == textwrap.dedent("""\
        Sequential: 36 params, 64 MACs, 136 FLOPs, 304 B moved (capture: symbolic_trace)

        module    type          params    MACs    FLOPs    share
        --------  ----------  --------  ------  -------  -------
        (model)   Sequential        36      64      136   100.0%
          0       Linear            36      64      128    94.1%
          1       ReLU               0       0        8     5.9%
        """)


def test_operator_table_raw_units_and_github(model_file):
    r = run("profile", f"{model_file}:make", "--input", "2x8", "--by", "operator", "--units", "raw")
    assert r.returncode == 0
    assert "linear        1      64      128    94.1%" in r.stdout
    g = run("profile", f"{model_file}:make", "--input", "2x8", "--format", "github")
    assert g.stdout.startswith("**fxcost** · Sequential") and "|:---" in g.stdout and "---:|" in g.stdout


def test_resnet50_fits_100_columns():
    r = run("profile", "torchvision:resnet50")
    assert r.returncode == 0, r.stderr
    assert "4.09 G" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()[1:]) <= 100


def test_json_out_and_diff(tmp_path, model_file):
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    assert run("profile", f"{model_file}:make", "--input", "2x8", "--format", "json", "--out", str(base)).returncode == 0
    assert run("profile", f"{model_file}:make", "--input", "4x8", "--format", "json", "--out", str(head)).returncode == 0
    data = json.loads(base.read_text())
    assert data["schema_version"] == 1 and data["total"]["macs"] == 64
    d = run("diff", str(base), str(head))
    assert d.returncode == 0 and "+100.00%" in d.stdout
    gated = run("diff", str(base), str(head), "--fail-above", "5", "--format", "github")
    assert gated.returncode == 1 and "grew +100.00%" in gated.stderr
    assert gated.stdout.startswith("**fxcost diff**")
    assert run("diff", str(base), str(base), "--fail-above", "0").returncode == 0
    j = json.loads(run("diff", str(base), str(head), "--format", "json").stdout)
    assert j["total"]["macs"]["delta"] == 64


@pytest.mark.parametrize(
    "args,message",
    [
        (["profile", "nosuchpkg.mod:make", "--input", "1x8"], "cannot import 'nosuchpkg.mod'"),
        (["profile", "missing.py:make"], "no such file"),
        (["profile", "MODEL_FILE:boom"], "factory exploded"),
        (["profile", "MODEL_FILE:not_a_model"], "neither an nn.Module"),
        (["profile", "MODEL_FILE:make", "--input", "2by8"], "bad input spec"),
        (["profile", "MODEL_FILE:make", "--input", "2x9"], "Fix"),
        (["profile", "MODEL_FILE:make"], "no input given"),
        (["profile", "torchvision:nosuchnet"], "no model 'nosuchnet'"),
        (["profile", "nocolon"], "bad target"),
        (["diff", "missing.json", "missing.json"], "cannot read report"),
    ],
)
def test_errors_are_one_line_exit_2(args, message, model_file, run_in_process):
    args = [a.replace("MODEL_FILE", str(model_file)) for a in args]
    r = run_in_process(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_malformed_and_foreign_json(tmp_path, run_in_process):
    bad, old = tmp_path / "bad.json", tmp_path / "old.json"
    bad.write_text("{not json")
    old.write_text(json.dumps({"schema_version": 0}))
    r = run_in_process("diff", str(bad), str(bad))
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    r = run_in_process("diff", str(old), str(old))
    assert r.returncode == 2 and "schema_version" in r.stderr


def test_out_in_missing_directory_leaves_nothing(tmp_path, model_file):
    target = tmp_path / "nope" / "r.json"
    r = run("profile", f"{model_file}:make", "--input", "2x8", "--out", str(target))
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not target.exists()


def test_failed_profile_leaves_no_partial_file(tmp_path, model_file):
    out = tmp_path / "r.json"
    r = run("profile", f"{model_file}:boom", "--out", str(out))
    assert r.returncode == 2 and not out.exists() and os.listdir(tmp_path) == ["mymodel.py"]


def test_hf_target_and_kwargs():
    r = run("profile", "hf:bert", "--input", "1x128:int64", "--depth", "1")
    assert r.returncode == 0, r.stderr
    assert "(capture: record)" in r.stdout and "11.17 G MACs" in r.stdout


def test_time_flag(model_file):
    r = run("profile", f"{model_file}:make", "--input", "2x8", "--time")
    assert r.returncode == 0, r.stderr
    assert "time ms" in r.stdout and "median on" in r.stdout


def test_symbolic_prints_formulas_per_module_and_json(model_file):
    r = run("profile", f"{model_file}:make", "--input", "3x8", "--symbolic", "B=0:0", "--depth", "1")
    assert r.returncode == 0, r.stderr
    # Linear(8, 4): 4 outputs of 8 terms per row: 32*B MACs; FLOPs (15*4 + 4 bias) per row, ReLU 4
    assert "macs = 32*B" in r.stdout and "flops = 68*B" in r.stdout
    j = json.loads(run("profile", f"{model_file}:make", "--input", "3x8", "--symbolic", "B=0:0",
                       "--format", "json").stdout)
    assert j["macs"] == "32*B" and j["modules"]["0"]["macs"] == "32*B" and j["symbols"] == {"B": 3}
    bad = run("profile", f"{model_file}:make", "--input", "3x8", "--symbolic", "B=0")
    assert bad.returncode == 2 and "NAME=INPUT:AXIS" in bad.stderr


def test_rules_lists_every_rule():
    r = run("rules")
    assert r.returncode == 0, r.stderr
    assert "scaled_dot_product_attention" in r.stdout and "2 per output element (max, min)" in r.stdout


def test_mesh_and_plan_cost_one_rank():
    r = run("profile", "hf:llama", "--input", "1x64:int64", "--backward", "--mesh", "dp=4,tp=2", "--plan", "fsdp+tp",
            "--links", "tp=nvlink4,dp=ib_ndr", "--depth", "0")
    assert r.returncode == 0, r.stderr
    assert "rank 0 of mesh dp=4 x tp=2" in r.stdout and "reduce_scatter" in r.stdout and "all_reduce" in r.stdout
    assert "On NVIDIA H100 SXM: compute >=" in r.stdout
    bad = run("profile", "hf:llama", "--input", "1x64:int64", "--mesh", "tp=2")
    assert bad.returncode == 2 and "--plan" in bad.stderr
