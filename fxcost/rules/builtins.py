"""The built-in cost rules, one module per op family: importing this module registers them in
``fxcost.REGISTRY``, which does so on its first use (``Registry.load``)."""

import sys

from . import (  # noqa: F401
    activation,
    aten,  # noqa: E402,F401 - last: it aliases aten ops onto the rules above
    attention,
    collective,
    conv,
    elementwise,
    fft,
    linalg,
    linear,
    loss,
    norm,
    pool,
    quantized,
    recurrent,
    reduce,
    shape,
    vision,
)
from .registry import register_rule  # noqa: E402


def late() -> bool:
    """Register the rules of modules imported since (torchvision's ops, ``ep.module()``'s input
    guards); True once all are."""
    unlift = sys.modules.get("torch.export._unlift")
    if unlift is not None and not _guards and hasattr(unlift, "GuardsFn"):
        _guards.append(unlift.GuardsFn)  # once: a registration clears the registry's caches
        register_rule(unlift.GuardsFn, op="check", moves_data=False)(shape.check)
    return vision.register() and bool(_guards)


_guards: list = []
