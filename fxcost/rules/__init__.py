"""The built-in cost rules, one module per op family. Importing this package registers them."""

from . import (  # noqa: F401
    activation,
    attention,
    conv,
    elementwise,
    linear,
    norm,
    pool,
    recurrent,
    reduce,
    shape,
)
