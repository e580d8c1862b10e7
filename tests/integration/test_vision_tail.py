"""The vision long tail: torchvision's int8 quantized models, RAFT and SSD on meta."""

import warnings

import pytest
import torch
from helpers import flop_counter_macs

import fxcost

tvm = pytest.importorskip("torchvision.models")


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large", "googlenet", "shufflenet_v2_x1_0"])
def test_int8_quantized_models_cost_their_float_models(name):
    kw = {"init_weights": False} if name == "googlenet" else {}
    x = torch.randn(1, 3, 224, 224)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = getattr(tvm.quantization, name)(weights=None, quantize=True, **kw).eval()
    r = fxcost.profile(q, (x,), real=True)
    f = fxcost.profile(getattr(tvm, name)(**kw).eval(), (x,))
    assert r.unsupported == []
    assert r.total.macs == f.total.macs
    assert r.total.bytes < f.total.bytes / 2  # int8 activations and weights


@pytest.mark.parametrize("size", [(224, 224), (224, 256)])
def test_raft_on_meta_at_any_size(size):
    with torch.device("meta"):
        model = tvm.optical_flow.raft_small().eval()
    x = torch.empty(1, 3, *size, device="meta")
    r = fxcost.profile(model, (x, x))
    assert r.unsupported == []
    assert r.total.macs == flop_counter_macs(model, (x, x))


def test_ssd_on_meta_stops_only_at_its_value_read():
    model = tvm.detection.ssdlite320_mobilenet_v3_large(weights_backbone=None).eval()  # CPU default boxes
    with pytest.raises(fxcost.FxcostError, match=r"reads tensor values.*detection/ssd\.py") as e:
        fxcost.profile(model, ([torch.randn(3, 320, 320)],))
    assert "shapes" not in str(e.value) and "real=True" in str(e.value)
