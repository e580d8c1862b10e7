"""Importing optional model zoos (torchvision, timm, transformers) robustly.

torchvision wheels are built against one torch build; on another (a CPU torch beside a CUDA
torchvision) its compiled ops are missing and ``import torchvision`` fails while registering fake
kernels for them. Its models are pure Python, so fxcost imports it with those registrations made
no-ops: the models work, the compiled ops (nms, roi_align) do not.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import torch


def import_torchvision() -> ModuleType:
    """``import torchvision``, tolerating a torchvision built for another torch."""
    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    try:
        return importlib.import_module("torchvision")
    except RuntimeError:
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    original = torch.library.register_fake

    def register_fake(op, *args, **kwargs):
        if isinstance(op, str) and op.startswith("torchvision::"):
            return lambda fn=None, *a, **k: fn if fn is not None else (lambda f: f)
        return original(op, *args, **kwargs)

    torch.library.register_fake = register_fake
    try:
        return importlib.import_module("torchvision")
    finally:
        torch.library.register_fake = original
