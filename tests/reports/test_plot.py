"""Pictures: every kind rendered to PNG and SVG with its labels; matplotlib stays optional."""

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import fxcost
from fxcost.reports import plot

pytest.importorskip("matplotlib")

MODEL = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
X = torch.randn(2, 3, 16, 16)


def _written(path):
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in data[:400]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_report_kinds(tmp_path, suffix):
    r = fxcost.profile(MODEL, (X,))
    fig = r.plot("roofline", str(tmp_path / f"roof{suffix}"), device="A100")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "arithmetic intensity (FLOP/byte)" and ax.get_ylabel() == "FLOP/s"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("compute roof" in t for t in legend) and any("memory roof" in t for t in legend)
    assert "NVIDIA A100" in ax.get_title()
    fig = r.plot("modules", str(tmp_path / f"mod{suffix}"), metric="macs")
    assert {t.get_text() for t in fig.axes[0].get_yticklabels()} == {"0", "3"}  # the conv and the linear
    fig = r.plot("operators", str(tmp_path / f"ops{suffix}"))
    assert {"conv", "linear", "relu"} <= {t.get_text() for t in fig.axes[0].get_yticklabels()}
    for name in ("roof", "mod", "ops"):
        _written(tmp_path / f"{name}{suffix}")


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_sweep_and_generation(tmp_path, suffix):
    f = fxcost.formula(MODEL[:2], (X,), dims={"B": [(0, 0)]})
    fig = plot.sweep_figure(f, "B", list(range(2, 65)), metric="macs", out=str(tmp_path / f"sweep{suffix}"))
    assert fig.axes[0].get_xlabel() == "B" and fig.axes[0].get_ylabel() == "macs"
    assert list(fig.axes[0].lines[0].get_ydata()) == [f(B=b).macs for b in range(2, 65)]
    T = pytest.importorskip("transformers")  # noqa: N806
    import hf

    gen = fxcost.profile_generation(hf.causal_lm("llama"), prompt_tokens=8, new_tokens=6)
    fig = plot.generation_figure(gen, out=str(tmp_path / f"gen{suffix}"))
    assert fig.axes[0].get_xlabel() == "position" and fig.axes[1].get_ylabel() == "KV cache bytes"
    assert T is not None
    _written(tmp_path / f"sweep{suffix}")
    _written(tmp_path / f"gen{suffix}")


def test_matplotlib_stays_optional(monkeypatch):
    code = "import sys, fxcost; fxcost.profile(fxcost.cli.example.example()[0], fxcost.cli.example.example()[1]); " \
           "assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", "import fxcost.cli.example; " + code], check=True)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(fxcost.FxcostError, match=r"pip install 'fxcost\[plot\]'"):
        fxcost.profile(MODEL, (X,)).plot("modules")


def test_cli_plot(tmp_path):
    exe = [sys.executable, "-m", "fxcost"]
    rep, form = tmp_path / "r.json", tmp_path / "f.json"
    rep.write_text(fxcost.profile(MODEL, (X,)).to_json())
    form.write_text(fxcost.formula(MODEL[:2], (X,), dims={"B": [(0, 0)]}).to_json())
    for args in (["plot", str(rep), "--kind", "roofline", "--out", str(tmp_path / "a.svg")],
                 ["plot", str(rep), "--kind", "modules", "--metric", "params", "--out", str(tmp_path / "b.png")],
                 ["plot", str(form), "--kind", "sweep", "--size", "B", "--range", "2:64:2", "--out",
                  str(tmp_path / "c.png")]):
        r = subprocess.run(exe + args, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert all((tmp_path / n).stat().st_size > 1000 for n in ("a.svg", "b.png", "c.png"))
    bad = subprocess.run(exe + ["plot", str(rep), "--kind", "roofline", "--out", str(tmp_path / "x.jpg")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and ".png, .svg or .pdf" in bad.stderr
    assert json.loads(form.read_text())["symbols"] == {"B": 2}
