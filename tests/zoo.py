"""The model zoos the integration tests sweep: torchvision's models built as their published
weights are, and the timm models checked against FlopCounterMode."""

from __future__ import annotations

import torch

# Built as their published weights are: googlenet without its training-only aux heads,
# inception_v3 with its aux head (in the weights; unused in eval), vit_h_14 at 518 px.
BUILD = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": True, "init_weights": False},
    "vit_h_14": {"image_size": 518},
}


def build_torchvision(name: str) -> tuple[torch.nn.Module, str]:
    """A torchvision model by name in eval mode, on meta where it can be built there; and its device."""
    import torchvision.models as tvm

    try:
        with torch.device("meta"):
            return tvm.get_model(name, **BUILD.get(name, {})).eval(), "meta"
    except Exception as e:  # regnet's init computes on its weights: build those on the CPU
        print(f"{name}: cannot be built on meta ({type(e).__name__}); built on CPU")
        return tvm.get_model(name, **BUILD.get(name, {})).eval(), "cpu"


TIMM = [
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "swin_tiny_patch4_window7_224",
    "convnext_atto",
    "efficientnet_b0",
    "regnety_002",
    "resnest14d",
    "coatnet_nano_rw_224",
    "maxvit_nano_rw_256",
    "levit_128s",
    "mobilevit_xxs",
    "eva02_tiny_patch14_224",
    "beit_base_patch16_224",
    "cait_xxs24_224",
    "xcit_nano_12_p16_224",
    "pvt_v2_b0",
    "poolformer_s12",
    "resnet18",
    "mobilenetv3_small_100",
    "densenet121",
    "inception_v3",
    "efficientformer_l1",
    "mixer_b16_224",
    "resmlp_12_224",
    "crossvit_tiny_240",
    "twins_svt_small",
    "tnt_s_patch16_224",
    "gcvit_xxtiny",
    "edgenext_xx_small",
    "repvgg_a0",
    "ghostnet_100",
    "hrnet_w18_small",
    "dla34",
    "dpn68",
    "fastvit_t8",
    "mobileone_s0",
    "tiny_vit_5m_224",
    "nfnet_l0",
    "cspresnet50",
    "rexnet_100",
    "volo_d1_224",
    "convmixer_768_32",
    "sequencer2d_s",
    "hgnet_tiny",
]
