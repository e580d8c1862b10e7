"""One frozen Options object from every entry point: misspelled keywords are TypeErrors naming
the closest valid one, bad values and options that do not apply together FxcostErrors."""

import dataclasses
import json

import pytest
import torch
from torch import nn

import fxcost

MODEL = nn.Sequential(nn.Linear(8, 4), nn.ReLU())
X = torch.randn(3, 8)


@pytest.mark.parametrize(
    "entry,kw,closest",
    [
        (lambda **kw: fxcost.profile(MODEL, (X,), **kw), {"stirct": True}, "strict"),
        (lambda **kw: fxcost.profile(MODEL, (X,), **kw), {"mesure": True}, "measure"),
        (lambda **kw: fxcost.profile(MODEL, (X,), **kw), {"flop": "2mac"}, "flops"),
        (lambda **kw: fxcost.annotate(torch.fx.symbolic_trace(MODEL), X, **kw), {"flop": "2mac"}, "flops"),
        (lambda **kw: fxcost.backend(**kw), {"atention": "full"}, "attention"),
        (lambda **kw: fxcost.inductor_pass(**kw), {"registy": None}, "registry"),
        (lambda **kw: fxcost.measure(MODEL, (X,), **kw), {"iter": 3}, "iters"),
        (lambda **kw: fxcost.time_nodes(fxcost.profile(MODEL, (X,)), MODEL, (X,), **kw), {"repeat": 1}, "repeats"),
        (lambda **kw: fxcost.profile_generation(MODEL, 4, 2, **kw), {"flop": "2mac"}, "flops"),
    ],
)
def test_misspelled_keyword_names_the_closest(entry, kw, closest):
    with pytest.raises(TypeError, match=f"{next(iter(kw))!r}.*did you mean {closest!r}"):
        entry(**kw)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"flops": "2macs"}, "flops='2macs' is not one of 'exact', '2mac'"),
        ({"attention": "masked"}, "attention='masked' is not one of 'full', 'causal'"),
        ({"real": "yes"}, "real='yes' must be True or False"),
        ({"optimizer": "lion", "memory": True, "backward": True}, "optimizer='lion'"),
        ({"measure": True, "warmup": -1}, "warmup=-1"),
        ({"measure": True, "min_time_s": "1s"}, "min_time_s"),
    ],
)
def test_bad_values_are_fxcost_errors(kw, match):
    with pytest.raises(fxcost.FxcostError, match=match):
        fxcost.profile(MODEL, (X,), **kw)


def test_annotate_refuses_a_bad_value_instead_of_counting_exact():
    with pytest.raises(fxcost.FxcostError, match="flops='2macs'"):
        fxcost.annotate(torch.fx.symbolic_trace(MODEL), X, flops="2macs")


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"backward": True, "real": True}, "real=True does not apply"),
        ({"memory": True, "real": True}, "real=True does not apply"),
        ({"backward": True, "capture": "record"}, "capture='record' does not apply"),
        ({"optimizer": "adamw"}, "memory=True and backward=True"),
        ({"iters": 3}, "configure the timing.*measure=True"),
    ],
)
def test_options_that_do_not_apply_together_are_refused(kw, match):
    with pytest.raises(fxcost.FxcostError, match=match):
        fxcost.profile(MODEL, (X,), **kw)


def test_the_report_carries_the_frozen_options():
    reg = fxcost.REGISTRY.copy()
    r = fxcost.profile(MODEL, (X,), flops="2mac", registry=reg)
    assert isinstance(r.settings, fxcost.Options) and r.settings.flops == "2mac" and r.settings.registry is reg
    assert r.options == {"flops": "2mac", "attention": "full", "real": False, "backward": False, "dtype": "float32"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.settings.flops = "exact"
    assert fxcost.annotate(torch.fx.symbolic_trace(MODEL), X, options=r.settings).total == r.total


def test_options_build_and_check_on_their_own():
    o = fxcost.Options(flops="2mac", backward=True, memory=True, optimizer="adamw")
    assert o.but(optimizer=None).optimizer is None
    with pytest.raises(fxcost.FxcostError, match="real=True does not apply"):
        o.but(real=True)
    assert fxcost.TimingOptions(iters=5).measure_kwargs()["iters"] == 5


def test_the_capture_method_is_one_enum_for_options_and_reports():
    """What a user asks for (``capture=``) and what a report says ran are members of one enum,
    and both still read as plain strings (JSON, comparisons, f-strings)."""
    from fxcost.core.options import CAPTURES, CaptureMethod

    assert CAPTURES == ("auto", "symbolic_trace", "record")
    assert fxcost.Options(capture="record").capture is CaptureMethod.RECORD
    model, x = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()), torch.randn(2, 4)
    methods = {
        "symbolic_trace": fxcost.profile(model, (x,), capture="symbolic_trace").capture["method"],
        "record": fxcost.profile(model, (x,), capture="record").capture["method"],
        "autograd": fxcost.profile(model, (x,), backward=True).capture["method"],
        "export": fxcost.profile(torch.export.export(model, (x,))).capture["method"],
    }
    for value, method in methods.items():
        assert isinstance(method, CaptureMethod) and method == value and f"{method}" == value
    assert json.loads(fxcost.profile(model, (x,)).to_json())["capture"]["method"] == "record"
    with pytest.raises(fxcost.FxcostError, match="capture='autograd' is not one of"):
        fxcost.profile(model, (x,), capture="autograd")  # told by reports, not asked for
