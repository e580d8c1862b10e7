"""Detection models with real tensors (their sizes depend on the data) on a machine where
torchvision's compiled ops load: python benchmarks/detection_check.py [cuda|cpu]"""

import sys

import torch

sys.path.insert(0, ".")
import fxcost  # noqa: E402
from fxcost.zoo.targets import import_torchvision  # noqa: E402

tv = import_torchvision()
device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
print(f"torch {torch.__version__}, torchvision {tv.__version__}, {device}")
for name in [
    "fasterrcnn_resnet50_fpn",
    "retinanet_resnet50_fpn",
    "ssdlite320_mobilenet_v3_large",
    "maskrcnn_resnet50_fpn",
]:
    w = list(tv.models.get_model_weights(name))[0]
    model = tv.models.get_model(name, weights_backbone=None).eval().to(device)
    size = 320 if "ssd" in name else 800
    torch.manual_seed(0)
    x = [torch.rand(3, size, size, device=device)]
    try:
        r = fxcost.profile(model, (x,), real=True)
        ops = w.meta.get("_ops")
        print(
            f"{name}: {r.total.macs / 1e9:.3f} GMACs (published {ops}), params {r.params} "
            f"(published {w.meta['num_params']}), capture {r.capture['method']}, "
            f"unsupported {[(u.target, u.count) for u in r.unsupported]}"
        )
    except Exception as e:
        print(f"{name}: ERROR {type(e).__name__}: {str(e)[:300]}")
