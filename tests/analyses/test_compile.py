"""fxcost inside compile pipelines: the FX pass and the torch.compile backend."""

import torch
import torch.nn.functional as F
from torch import nn

import fxcost


def test_annotate_hand_built_graph():
    g = torch.fx.Graph()
    x = g.placeholder("x")
    w = g.placeholder("w")
    y = g.call_function(torch.matmul, (x, w))
    z = g.call_method("relu", (y,))
    g.output(z)
    gm = torch.fx.GraphModule(nn.Module(), g)
    code = gm.code
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    expected = gm(a, b)
    report = fxcost.annotate(gm, a, b)
    costs = {n.name: n.meta["fxcost"] for n in gm.graph.nodes}
    assert (costs["matmul"].macs, costs["matmul"].flops) == (60, 7 * 15)  # 15 dots of 4
    assert costs["relu"].flops == 15 and costs["x"] == fxcost.Cost()
    assert report.total.macs == 60
    assert gm.code == code and torch.equal(gm(a, b), expected)  # graph otherwise untouched
    assert all("val" not in n.meta for n in gm.graph.nodes)


def test_annotate_reuses_shape_prop_metadata():
    gm = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
    from torch.fx.passes.shape_prop import ShapeProp

    ShapeProp(gm).propagate(torch.randn(2, 4))
    report = fxcost.annotate(gm)  # no inputs needed: tensor_meta is there
    assert report.total.macs == 24


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(16, 16), nn.Linear(16, 4)

    def forward(self, x):
        x = F.relu(self.a(x))
        torch._dynamo.graph_break()
        return self.b(x).softmax(-1)


def test_backend_sees_every_graph_and_sums_to_profile():
    torch._dynamo.reset()
    model, x = Broken(), torch.randn(2, 16)
    seen = []
    be = fxcost.backend(inner="eager", on_graph=seen.append)
    out = torch.compile(model, backend=be)(x)
    assert torch.allclose(out, model(x))
    assert len(be.graphs) == 2 and len(seen) == 2
    whole = fxcost.profile(model, (x,))
    assert be.report.total == whole.total
    assert be.report.total.macs == 2 * 16 * 16 + 2 * 16 * 4
    # module attribution survives Dynamo's naming
    assert {n.module for n in be.graphs[0].nodes if n.op == "linear"} == {"a"}


def test_backend_recompile_is_a_new_graph():
    torch._dynamo.reset()
    be = fxcost.backend(inner="eager")
    f = torch.compile(nn.Linear(4, 4), backend=be, dynamic=False)
    f(torch.randn(1, 4))
    f(torch.randn(3, 4))
    assert [r.total.macs for r in be.graphs] == [16, 48]


def test_backend_with_inductor_gives_same_outputs():
    torch._dynamo.reset()
    model, x = Broken(), torch.randn(2, 16)
    be = fxcost.backend()  # inductor
    out = torch.compile(model, backend=be)(x)
    assert torch.allclose(out, model(x), atol=1e-6)
    assert be.report.total == fxcost.profile(model, (x,)).total
