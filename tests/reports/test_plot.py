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


def _boxes(fig, texts):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts if t.get_text()]


def _no_overlap(fig, texts):
    boxes = _boxes(fig, texts)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


NESTED = nn.Sequential(
    nn.Conv2d(3, 8, 3),
    nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()),
    nn.Flatten(),
    nn.Linear(8 * 14 * 14, 10),
)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_roofline_labels_in_a_legend_and_only_a_chosen_device(tmp_path, suffix):
    r = fxcost.profile(NESTED, (X,))
    fig = r.plot("roofline", str(tmp_path / f"roof{suffix}"), device="A100", top=2)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "arithmetic intensity (FLOP/byte)" and "not timed" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    costliest = sorted(r.nodes, key=lambda n: -n.cost.flops)[:2]
    assert legend[1:] == [f"{n.name} ({fxcost.reports.format.si(n.cost.flops, 'FLOP')})" for n in costliest]
    assert legend[0] == f"{len([n for n in r.nodes if n.cost.flops and n.cost.bytes]) - 2} more"
    assert "NVIDIA A100" in ax.get_title()
    _no_overlap(fig, ax.texts)  # only the two roofs' labels are on the axes, apart
    assert all(c.get_facecolors().size == 0 for c in ax.collections[1:])  # hollow: a bound, not a measurement
    _written(tmp_path / f"roof{suffix}")
    with pytest.raises(fxcost.FxcostError, match="a roofline needs a device"):
        r.plot("roofline")  # no default device nobody chose
    timed = fxcost.profile(NESTED, (X,), measure=True, warmup=0, min_time_s=0)
    fxcost.time_nodes(timed, NESTED, (X,), repeats=2, warmup=0)
    with pytest.raises(fxcost.FxcostError, match="would mislead"):
        timed.plot("roofline", device="H100")  # CPU timings under H100 roofs
    cpu = fxcost.Peak("my CPU", {"float32": 1e12}, 100e9)
    fig = timed.plot("roofline", device=cpu)
    assert fig.axes[0].get_ylabel() == "measured FLOP/s" and "my CPU" in fig.axes[0].get_title()


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_bars_hold_every_leaf_at_depth_with_si_values(tmp_path, suffix):
    r = fxcost.profile(NESTED, (X,))
    fig = r.plot("modules", str(tmp_path / f"mod{suffix}"), metric="macs", depth=2)
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert set(names) == {"0", "1.0", "3"}  # conv "0" and linear "3" are leaves above depth 2
    values = {row.path: row.cost.macs for row in r.by_module(2)}
    assert sum(values[n] for n in names) == r.total.macs  # every op in exactly one bar
    labels = [t.get_text() for t in ax.texts]
    assert labels == [fxcost.reports.format.si(values[n]) for n in names]
    assert ax.xaxis.get_major_formatter().__class__.__name__ == "EngFormatter"
    _no_overlap(fig, ax.get_xticklabels())
    fig = r.plot("operators", str(tmp_path / f"ops{suffix}"), metric="bytes")
    assert {"conv", "linear", "relu"} <= {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert fig.axes[0].get_xlabel() == "bytes moved" and all(t.get_text().endswith("B") for t in fig.axes[0].texts)
    _no_overlap(fig, fig.axes[0].get_xticklabels())
    for name in ("mod", "ops"):
        _written(tmp_path / f"{name}{suffix}")


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_sweep_and_generation(tmp_path, suffix):
    class Branchy(nn.Module):
        def forward(self, x):
            return x.relu() if x.shape[1] > 8 else x.sigmoid()

    f = fxcost.formula(Branchy(), (torch.randn(2, 12),), dims={"B": [(0, 0)], "N": [(0, 1)]})
    fig = plot.sweep_figure(f, "N", list(range(2, 65)), {"B": 3}, metric="flops", out=str(tmp_path / f"sweep{suffix}"))
    ax = fig.axes[0]
    assert ax.get_title() == "Branchy: FLOPs against N at B=3" and ax.get_xlabel() == "N"
    assert list(ax.lines[0].get_xdata()) == list(range(9, 65))  # only where f.valid holds (N > 8)
    assert list(ax.lines[0].get_ydata()) == [f(B=3, N=n).flops for n in range(9, 65)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["exact formula", "where it holds (N 9..64)"]
    shaded = [p for p in ax.patches if p.get_width() > 0]
    assert len(shaded) == 1 and (shaded[0].get_x(), shaded[0].get_x() + shaded[0].get_width()) == (9, 64)
    with pytest.raises(fxcost.FxcostError, match="no N in 2..8 is where the formula holds"):
        plot.sweep_figure(f, "N", list(range(2, 9)), {"B": 3})
    pytest.importorskip("transformers")
    import hf

    gen = fxcost.profile_generation(hf.causal_lm("llama"), prompt_tokens=8, new_tokens=6)
    fig = plot.generation_figure(gen, out=str(tmp_path / f"gen{suffix}"))
    top, low = fig.axes
    assert "LlamaForCausalLM" in top.get_title() and low.get_xlabel() == "position of the generated token"
    assert top.get_ylabel() == "FLOPs per step" and low.get_ylabel() == "KV cache"  # one line per panel
    assert [len(a.lines) for a in fig.axes] == [1, 1]
    assert list(top.lines[0].get_ydata()) == [p["flops"] for p in gen.positions]
    _written(tmp_path / f"sweep{suffix}")
    _written(tmp_path / f"gen{suffix}")


def test_matplotlib_stays_optional(monkeypatch):
    code = (
        "import sys, fxcost; fxcost.profile(fxcost.cli.example.example()[0], fxcost.cli.example.example()[1]); "
        "assert 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", "import fxcost.cli.example; " + code], check=True)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(fxcost.FxcostError, match=r"pip install 'fxcost\[plot\]'"):
        fxcost.profile(MODEL, (X,)).plot("modules")


def test_cli_plot(tmp_path):
    exe = [sys.executable, "-m", "fxcost"]
    rep, form = tmp_path / "r.json", tmp_path / "f.json"
    rep.write_text(fxcost.profile(MODEL, (X,)).to_json())
    form.write_text(fxcost.formula(MODEL[:2], (X,), dims={"B": [(0, 0)]}).to_json())
    for args in (
        ["plot", str(rep), "--kind", "roofline", "--device", "H100", "--out", str(tmp_path / "a.svg")],
        ["plot", str(rep), "--kind", "modules", "--metric", "params", "--out", str(tmp_path / "b.png")],
        ["plot", str(form), "--kind", "sweep", "--size", "B", "--range", "2:64:2", "--out", str(tmp_path / "c.png")],
    ):
        r = subprocess.run(exe + args, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert all((tmp_path / n).stat().st_size > 1000 for n in ("a.svg", "b.png", "c.png"))
    bad = subprocess.run(
        exe + ["plot", str(rep), "--kind", "roofline", "--out", str(tmp_path / "x.jpg")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and ".png, .svg or .pdf" in bad.stderr
    assert json.loads(form.read_text())["symbols"] == {"B": 2}
    nodev = subprocess.run(
        exe + ["plot", str(rep), "--kind", "roofline", "--out", str(tmp_path / "x.png")], capture_output=True, text=True
    )
    assert nodev.returncode == 2 and nodev.stderr.count("\n") == 1 and "--device H100" in nodev.stderr
