"""Bad inputs, model integrity across entry points, determinism and size limits."""

import resource

import pytest
import torch
from helpers import assert_same, snapshot
from torch import nn

import fxcost


# -- inputs fxcost supports where the model takes them ----------------------------------------
class DictIn(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, batch):
        return self.lin(batch["x"]) + self.lin(batch["pair"][1])


def test_dict_list_and_nested_inputs():
    r = fxcost.profile(DictIn(), ({"x": torch.randn(2, 4), "pair": [torch.randn(2, 4), torch.randn(2, 4)]},))
    assert r.total.macs == 2 * 2 * 16


def test_none_and_optional_inputs():
    class Opt(nn.Module):
        def forward(self, x, mask=None):
            return x if mask is None else x * mask

    assert fxcost.profile(Opt(), (torch.randn(3), None)).total.flops == 0
    assert fxcost.profile(Opt(), (torch.randn(3),), {"mask": torch.ones(3)}).total.flops == 3


def test_varargs_forward_is_captured_by_recording():
    class VarArgs(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, *xs, **kw):
            return self.lin(xs[0] + kw["y"])

    r = fxcost.profile(VarArgs(), (torch.randn(1, 4),), {"y": torch.randn(1, 4)})
    assert r.total.macs == 8 and r.capture["method"] == "record"
    with pytest.raises(fxcost.CaptureError, match=r"\*args/\*\*kwargs"):
        fxcost.profile(VarArgs(), (torch.randn(1, 4),), {"y": torch.randn(1, 4)}, capture="symbolic_trace")


def test_zero_size_tensors():
    r = fxcost.profile(nn.Linear(4, 3), (torch.randn(0, 4),))
    assert r.total.macs == 0 and r.total.flops == 0


# -- bad input: one clear fxcost error naming cause and fix ----------------------------------
def test_dtype_mismatch():
    with pytest.raises(fxcost.FxcostError, match="Fix"):
        fxcost.profile(nn.Linear(4, 4), (torch.ones(1, 4, dtype=torch.long),))


def test_model_and_inputs_on_different_devices():
    with torch.device("meta"):
        m = nn.Linear(4, 4)
    with pytest.raises(fxcost.FxcostError, match="model is on meta but an input is on cpu.*Fix"):
        fxcost.profile(m, (torch.randn(1, 4),), real=True)


def test_every_capture_path_fails_lists_each_reason():
    class Hopeless(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent: symbolic_trace fails, recording on meta too
                return x
            return -x

    with pytest.raises(fxcost.CaptureError) as e:
        fxcost.profile(Hopeless(), (torch.randn(3),))
    msg = str(e.value)
    assert "symbolic_trace failed" in msg and "record:" in msg and "real=True" in msg


def test_kwargs_not_a_dict():
    with pytest.raises(fxcost.FxcostError, match="kwargs must be a dict"):
        fxcost.profile(nn.ReLU(), (), [torch.randn(1)])


def test_forced_symbolic_capture_failure_says_fix():
    class Bad(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(fxcost.CaptureError, match="symbolic_trace failed.*Fix: use capture='auto'"):
        fxcost.profile(Bad(), (torch.randn(2),), capture="symbolic_trace")


def test_bad_attention_and_capture_options():
    with pytest.raises(fxcost.FxcostError, match="attention"):
        fxcost.profile(nn.ReLU(), (torch.randn(1),), attention="half")
    with pytest.raises(fxcost.FxcostError, match="capture"):
        fxcost.profile(nn.ReLU(), (torch.randn(1),), capture="dynamo2")


def test_measure_bad_input():
    with pytest.raises(fxcost.FxcostError, match="expected an nn.Module"):
        fxcost.measure("model", (torch.randn(1),))
    with pytest.raises(fxcost.FxcostError, match="cuda_graph"):
        fxcost.measure(nn.ReLU(), (torch.randn(1),), cuda_graph=True)


# -- integrity across entry points, also when they raise --------------------------------------
def test_measure_and_annotate_leave_the_model_as_it_was():
    tvm = pytest.importorskip("torchvision.models")
    model = tvm.resnet18().train()
    model.fc.register_forward_pre_hook(lambda *a: None)
    snap = snapshot(model)
    fxcost.measure(model, (torch.randn(1, 3, 32, 32),), iters=2, warmup=1)
    assert_same(model, snap)
    gm = torch.fx.symbolic_trace(model)
    fxcost.annotate(gm, torch.randn(2, 3, 32, 32))  # training-mode batch norm needs batch > 1
    assert_same(model, snap)
    with pytest.raises(RuntimeError):  # the model's own error, passed through
        fxcost.measure(model, (torch.randn(1, 5, 32, 32),), iters=1)
    assert_same(model, snap)
    with pytest.raises(fxcost.FxcostError):
        fxcost.profile(model, (torch.randn(1, 5, 32, 32),), backward=True)
    assert_same(model, snap)


def test_grad_mode_restored_when_profile_raises():
    torch.set_grad_enabled(False)
    try:
        with pytest.raises(fxcost.FxcostError):
            fxcost.profile(nn.Linear(4, 4), (torch.randn(1, 5),))
        assert not torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)


def test_garbage_collector_state_is_restored():
    """profile() pauses the cyclic collector while it runs and leaves it as it found it."""
    import gc

    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(gc.isenabled())
            return x

    assert gc.isenabled()
    fxcost.profile(nn.Sequential(nn.Linear(4, 4), Spy()), (torch.randn(1, 4),))
    assert seen and not any(seen) and gc.isenabled()
    with pytest.raises(fxcost.FxcostError):
        fxcost.profile(nn.Linear(4, 4), (torch.randn(1, 5),))
    assert gc.isenabled()
    gc.disable()
    try:
        fxcost.profile(nn.Linear(4, 4), (torch.randn(1, 4),))
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- determinism and limits --------------------------------------------------------------------
def test_json_is_byte_identical_across_runs():
    tvm = pytest.importorskip("torchvision.models")
    model = tvm.mobilenet_v3_small()
    x = torch.randn(1, 3, 64, 64)
    assert fxcost.profile(model, (x,)).to_json() == fxcost.profile(model, (x,)).to_json()


def test_100k_node_graph():
    class Chain(nn.Module):
        def forward(self, x):
            for _ in range(100_000):
                x = x + 1
            return x

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = fxcost.profile(Chain(), (torch.randn(8),))
    assert len(r.nodes) == 100_000 and r.total.flops == 800_000
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 1500, grown_mb


def test_forward_that_caches_on_the_model_is_put_back():
    class Caching(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            self.last = x * 2  # a model that stores tensors on itself (AnchorGenerator does)
            if x.shape[0] > 1:  # fine for symbolic tracing: shapes are concrete
                self.lin.seen = True
            return self.lin(self.last + torch.ones(4))  # a tensor constant for the tracer

    model = Caching()
    snap = snapshot(model)
    keys = [set(m.__dict__) for m in model.modules()]
    r = fxcost.profile(model, (torch.randn(2, 4),))
    assert r.total.macs == 32
    assert [set(m.__dict__) for m in model.modules()] == keys  # no last/seen/_tensor_constant0
    assert_same(model, snap)
    fxcost.time_nodes(r, model, (torch.randn(2, 4),), repeats=1, warmup=0)  # uses the constant
    assert [set(m.__dict__) for m in model.modules()] == keys


def test_failed_detection_capture_leaves_no_proxies():
    tvm = pytest.importorskip("torchvision.models")
    with torch.device("meta"):
        model = tvm.detection.fasterrcnn_resnet50_fpn(weights_backbone=None).eval()
    keys = {name: set(m.__dict__) for name, m in model.named_modules()}
    with pytest.raises(fxcost.FxcostError):  # needs torchvision's compiled nms on real tensors
        fxcost.profile(model, ([torch.empty(3, 64, 64)],))
    assert {name: set(m.__dict__) for name, m in model.named_modules()} == keys
    for m in model.modules():
        assert not any(isinstance(v, torch.fx.Proxy) for v in m.__dict__.values())


def _guards_entered(fn):
    """How often each guard of core/guards.py is set up while ``fn`` runs (a profile hook)."""
    import collections
    import sys

    import fxcost.core.guards as guards

    watched = {"guarded", "standins", "attributes_kept", "gc_paused", "tracing"}
    seen = collections.Counter()
    frames = []  # a generator's frame is called again when it resumes: count each frame once
    where = guards.__file__

    def hook(frame, event, arg):
        code = frame.f_code
        if event == "call" and code.co_filename == where and not any(f is frame for f in frames):
            name = "attributes_kept" if code.co_name == "__init__" else code.co_name
            if name in watched:
                frames.append(frame)
                seen[name] += 1

    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seen


@pytest.mark.parametrize(
    "kw", [{}, {"capture": "symbolic_trace"}, {"backward": True, "memory": True}, {"memory": True}]
)
def test_a_count_enters_one_guard_once(kw):
    """The pipeline's entry point sets up the one guard context a count runs in; no capture path
    builds a guard stack of its own (the decorator's paused collector aside)."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    seen = _guards_entered(lambda: fxcost.profile(model, (torch.randn(2, 3, 8, 8),), **kw))
    assert seen["guarded"] == 1
    assert seen["standins"] == seen["attributes_kept"] == seen["tracing"] == 1, seen
    assert sum(seen.values()) <= 6, seen  # guarded and what it enters, plus the paused collector


def test_import_and_a_command_print_nothing_without_numpy():
    # the base install has torch and tabulate alone; torch warns at import when NumPy is absent
    code = (
        "import sys; sys.modules['numpy'] = None; sys.argv = ['fxcost', 'rules']; "
        "import fxcost; from fxcost.cli.main import main; main()"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("family")
