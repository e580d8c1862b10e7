"""Imported once by a sweep's fork server (``sweep.py``), so that each worker forked from it
starts with torch, fxcost and the installed model zoos already imported (3 s saved per model)."""

import importlib

import fxcost  # noqa: F401

from .targets import import_torchvision_if_present

import_torchvision_if_present()
for _zoo in ("timm", "transformers"):
    try:
        importlib.import_module(_zoo)
    except ImportError:
        pass
