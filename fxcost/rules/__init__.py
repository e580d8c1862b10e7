"""The built-in cost rules, one module per op family. Importing this package registers them in
``fxcost.REGISTRY``, which does so on its first use."""

from . import (  # noqa: F401
    activation,
    attention,
    collective,
    conv,
    elementwise,
    linear,
    loss,
    norm,
    pool,
    recurrent,
    reduce,
    shape,
    vision,
)
from . import aten  # noqa: E402,F401 - last: it aliases aten ops onto the rules above


def late() -> bool:
    """Register the rules of libraries imported since (torchvision's ops); True once all are."""
    return vision.register()
