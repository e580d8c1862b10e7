"""The built-in cost rules, one module per op family. Importing this package registers them."""

from . import activation, attention, conv, elementwise, linear, norm, pool, reduce, shape  # noqa: F401
