"""The real `fxcost` console script, in a subprocess, for every subcommand and error case."""

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

import fxcost

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
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse's own errors, --help, --version
            code = e.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return call


@pytest.fixture
def model_file(tmp_path):
    p = tmp_path / "mymodel.py"
    p.write_text(
        textwrap.dedent("""
        import torch
        from torch import nn
        def make():
            return nn.Sequential(nn.Linear(8, 4), nn.ReLU())
        def boom():
            raise ValueError("factory exploded")
        not_a_model = 3
    """)
    )
    return p


def test_example_and_python_m():
    r = run("example")
    assert r.returncode == 0, r.stderr
    # the head line's figures, from the example model itself and FlopCounterMode's count of it
    from torch.utils.flop_counter import FlopCounterMode

    from fxcost.cli.example import example

    model, (x,) = example()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    # the math backend: attention as matmuls (FlopCounterMode has no formula for the CPU kernel)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        model(x)
    params = sum(p.numel() for p in model.parameters())
    macs = fc.get_total_flops() // 2
    assert r.stdout.startswith(f"ExampleNet: {params / 1e3:.2f} k params, {macs / 1e9:.2f} G MACs")
    assert "attn" in r.stdout
    # every metric at once: FLOPs, MACs, parameters, inference time, FPS, achieved FLOP/s
    head = r.stdout.splitlines()[0]
    assert all(
        s in head
        for s in ("params", "MACs", "FLOPs", "latency", "ms (median of the whole model) on", "FPS", "FLOP/s achieved")
    ), head
    assert "fxcost plot" in r.stdout.splitlines()[-1]
    assert "timing ExampleNet" in r.stderr  # what the second of silence is
    r2 = subprocess.run([sys.executable, "-m", "fxcost", "example"], capture_output=True, text=True)
    assert r2.returncode == 0 and r2.stdout.split(" moved")[0] == head.split(" moved")[0]


def test_golden_module_table(model_file):
    r = run("profile", f"{model_file}:make", "--input", "2x8")
    assert r.returncode == 0, r.stderr
    # Linear(8, 4) on 2x8: 64 MACs, 15*8 + 8 = 128 FLOPs; ReLU 8 FLOPs.
    # Bytes: Linear reads x (64) + params (144), writes 32; ReLU reads 32, writes 32: 304
    assert r.stdout == textwrap.dedent("""\
        Sequential: 36 params, 64 MACs, 136 FLOPs, 304 B moved (capture: record)

        module    type          params    MACs    FLOPs    share
        --------  ----------  --------  ------  -------  -------
        (model)   Sequential        36      64      136   100.0%
          0       Linear            36      64      128    94.1%
          1       ReLU               0       0        8     5.9%
        """)


def test_operator_table_raw_units_and_github(model_file, run_in_process):
    r = run_in_process("profile", f"{model_file}:make", "--input", "2x8", "--by", "operator", "--units", "raw")
    assert r.returncode == 0
    assert "linear        1      64      128    94.1%" in r.stdout
    g = run_in_process("profile", f"{model_file}:make", "--input", "2x8", "--format", "github")
    assert g.stdout.startswith("**fxcost** · Sequential") and "|:---" in g.stdout and "---:|" in g.stdout


def test_resnet50_fits_100_columns(run_in_process):
    r = run_in_process("profile", "torchvision:resnet50")
    assert r.returncode == 0, r.stderr
    assert "4.09 G" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()[1:]) <= 100


def test_json_out_and_diff(tmp_path, model_file, run_in_process):
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    assert (
        run_in_process(
            "profile", f"{model_file}:make", "--input", "2x8", "--format", "json", "--out", str(base)
        ).returncode
        == 0
    )
    assert (
        run_in_process(
            "profile", f"{model_file}:make", "--input", "4x8", "--format", "json", "--out", str(head)
        ).returncode
        == 0
    )
    data = json.loads(base.read_text())
    assert data["schema_version"] == 1 and data["total"]["macs"] == 64
    d = run_in_process("diff", str(base), str(head))
    assert d.returncode == 0 and "+100.00%" in d.stdout
    gated = run_in_process("diff", str(base), str(head), "--fail-above", "5", "--format", "github")
    assert gated.returncode == 1 and "grew +100.00%" in gated.stderr
    assert gated.stdout.startswith("**fxcost diff**")
    assert run_in_process("diff", str(base), str(base), "--fail-above", "0").returncode == 0
    j = json.loads(run_in_process("diff", str(base), str(head), "--format", "json").stdout)
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


def test_out_in_missing_directory_leaves_nothing(tmp_path, model_file, run_in_process):
    target = tmp_path / "nope" / "r.json"
    r = run_in_process("profile", f"{model_file}:make", "--input", "2x8", "--out", str(target))
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not target.exists()


def test_failed_profile_leaves_no_partial_file(tmp_path, model_file):
    out = tmp_path / "r.json"
    r = run("profile", f"{model_file}:boom", "--out", str(out))
    assert r.returncode == 2 and not out.exists() and os.listdir(tmp_path) == ["mymodel.py"]


def test_hf_target_and_kwargs(run_in_process):
    r = run_in_process("profile", "hf:bert", "--input", "1x128:int64", "--depth", "1")
    assert r.returncode == 0, r.stderr
    assert "(capture: record)" in r.stdout and "11.17 G MACs" in r.stdout


def test_time_flag(model_file, run_in_process):
    r = run_in_process("profile", f"{model_file}:make", "--input", "2x8", "--time")
    assert r.returncode == 0, r.stderr
    assert "node ms" in r.stdout and "median of the whole model" in r.stdout and "node-by-node run" in r.stdout


def test_symbolic_prints_formulas_per_module_and_json(model_file, run_in_process):
    r = run_in_process("profile", f"{model_file}:make", "--input", "1x8", "--symbolic", "B=0:0", "--depth", "1")
    assert r.returncode == 0, r.stderr
    assert "(example 1)" in r.stdout and "valid where B >= 1" in r.stdout  # a batch-1 example holds at 1
    # Linear(8, 4): 4 outputs of 8 terms per row: 32*B MACs; FLOPs (15*4 + 4 bias) per row, ReLU 4
    assert "macs = 32*B" in r.stdout and "flops = 68*B" in r.stdout
    j = json.loads(
        run_in_process(
            "profile", f"{model_file}:make", "--input", "3x8", "--symbolic", "B=0:0", "--format", "json"
        ).stdout
    )
    assert j["macs"] == "32*B" and j["modules"]["0"]["macs"] == "32*B" and j["symbols"] == {"B": 3}
    bad = run_in_process("profile", f"{model_file}:make", "--input", "3x8", "--symbolic", "B=0")
    assert bad.returncode == 2 and "NAME=INPUT:AXIS" in bad.stderr


def test_rules_lists_every_rule(run_in_process):
    r = run_in_process("rules")
    assert r.returncode == 0, r.stderr
    assert "scaled_dot_product_attention" in r.stdout and "2 per output element (max, min)" in r.stdout


def test_mesh_and_plan_cost_one_rank(run_in_process):
    r = run_in_process(
        "profile",
        "hf:llama",
        "--input",
        "1x64:int64",
        "--backward",
        "--mesh",
        "dp=4,tp=2",
        "--plan",
        "fsdp+tp",
        "--links",
        "tp=nvlink4,dp=ib_ndr",
        "--peak",
        "H100",
        "--by",
        "operator",
    )
    assert r.returncode == 0, r.stderr
    assert "\nmatmul " in r.stdout  # --by operator holds with --mesh
    assert "rank 0 of mesh dp=4 x tp=2" in r.stdout and "reduce_scatter" in r.stdout and "all_reduce" in r.stdout
    assert "On NVIDIA H100 SXM: compute >=" in r.stdout
    bad = run_in_process("profile", "hf:llama", "--input", "1x64:int64", "--mesh", "tp=2")
    assert bad.returncode == 2 and "--plan" in bad.stderr
    unchosen = run_in_process(
        "profile", "hf:llama", "--input", "1x64:int64", "--mesh", "tp=2", "--plan", "tp", "--links", "tp=nvlink4"
    )
    assert unchosen.returncode == 2 and "Fix: add --peak H100" in unchosen.stderr  # no device the user did not choose


# -- behaves like the tools people know ---------------------------------------------------------
def test_version_help_and_did_you_mean(run_in_process):
    v = run("--version")
    assert v.returncode == 0 and v.stdout.strip() == f"fxcost {fxcost.__version__}"
    bare = run()
    assert bare.returncode == 0 and bare.stdout.startswith("usage: fxcost") and "profile" in bare.stdout
    assert "Start with: fxcost example" in " ".join(bare.stdout.split())
    prof = run_in_process("profile")
    assert prof.returncode == 0 and prof.stdout.startswith("usage: fxcost profile")
    wrong = run_in_process("profile", "torchvision:resnet18", "--fromat", "json")
    assert wrong.returncode == 2 and "did you mean --format?" in wrong.stderr
    sub = run_in_process("profil", "torchvision:resnet18")
    assert sub.returncode == 2 and "did you mean profile?" in sub.stderr


def test_profile_without_a_target_but_with_options_is_one_line(run_in_process):
    r = run_in_process("profile", "--input", "1x8")
    assert r.returncode == 2 and "profile needs a TARGET. Fix:" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_every_option_has_help():
    from fxcost.cli.main import build_parser

    parser = build_parser()
    subs = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, p in subs.items()
        for a in p._actions
        if not a.help and a.dest != "help"
    ]
    assert not missing, missing


def test_a_package_in_the_current_directory_imports(tmp_path):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text("from torch import nn\ndef build():\n    return nn.Linear(8, 4)\n")
    r = run("profile", "mypkg.models:build", "--input", "2x8", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Linear: 36 params, 64 MACs")


@pytest.mark.parametrize(
    "target, package",
    [("timm:resnet18", "timm"), ("hf:llama", "transformers"), ("torchvision:resnet18", "torchvision")],
)
def test_a_missing_zoo_names_its_install(target, package, run_in_process, monkeypatch):
    monkeypatch.setitem(sys.modules, package, None)  # as if it were not installed
    r = run_in_process("profile", target)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert f"need {package}, which is not installed. Fix: pip install" in r.stderr


def test_out_files_follow_the_umask(tmp_path, model_file, run_in_process):
    old = os.umask(0o022)
    try:
        r = run_in_process(
            "profile", f"{model_file}:make", "--input", "2x8", "--format", "json", "--out", str(tmp_path / "r.json")
        )
    finally:
        os.umask(old)
    assert r.returncode == 0 and stat.S_IMODE(os.stat(tmp_path / "r.json").st_mode) == 0o644


def test_other_kinds_of_json_are_named(tmp_path, model_file, run_in_process):
    formula_json = tmp_path / "f.json"
    assert (
        run_in_process(
            "profile",
            f"{model_file}:make",
            "--input",
            "2x8",
            "--symbolic",
            "B=0:0",
            "--format",
            "json",
            "--out",
            str(formula_json),
        ).returncode
        == 0
    )
    r = run_in_process("diff", str(formula_json), str(formula_json))
    assert r.returncode == 2 and "this is a formula (fxcost profile --symbolic), not a profile report" in r.stderr
    report_json = tmp_path / "r.json"
    run_in_process("profile", f"{model_file}:make", "--input", "2x8", "--format", "json", "--out", str(report_json))
    r = run_in_process("plot", str(report_json), "--kind", "generation", "--out", str(tmp_path / "g.png"))
    assert r.returncode == 2 and "is a profile report, not a generation report" in r.stderr


def test_plot_into_a_missing_folder_is_one_line(tmp_path, model_file, run_in_process):
    pytest.importorskip("matplotlib")
    report_json = tmp_path / "r.json"
    run_in_process("profile", f"{model_file}:make", "--input", "2x8", "--format", "json", "--out", str(report_json))
    r = run_in_process("plot", str(report_json), "--kind", "modules", "--out", str(tmp_path / "nope" / "m.png"))
    assert r.returncode == 2 and "does not exist. Fix: create it first." in r.stderr
    assert not (tmp_path / "nope").exists()


def test_the_action_without_gh_is_one_line(monkeypatch, capsys):
    from fxcost.cli.ci import post_comment

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(fxcost.FxcostError) as e:
        post_comment("o/r", 1, "body")
    assert "gh is not installed. Fix: install the GitHub CLI" in str(e.value)
