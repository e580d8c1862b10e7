"""Importing optional model zoos (torchvision, timm, transformers) robustly.

torchvision wheels are built against one torch build; on another (a CPU torch beside a CUDA
torchvision) its compiled ops are missing and ``import torchvision`` fails while registering fake
kernels for them. Its models are pure Python, so fxcost imports it with those registrations made
no-ops: the models work, the compiled ops (nms, roi_align) do not.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from types import ModuleType
from typing import Any, NamedTuple

import torch
from torch import nn

from ..core.errors import FxcostError


def import_torchvision() -> ModuleType:
    """``import torchvision``, tolerating a torchvision built for another torch."""
    if sys.modules.get("torchvision") is not None:
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


# --------------------------------------------------------------------------------------------
# Command-line targets: TARGET -> (model, args, kwargs)
# --------------------------------------------------------------------------------------------

_DTYPES = {
    "float32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
    "int64": torch.int64,
    "long": torch.int64,
    "int32": torch.int32,
    "int": torch.int32,
    "bool": torch.bool,
    "uint8": torch.uint8,
}


def parse_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise FxcostError(f"unknown dtype '{name}'. Fix: use one of {', '.join(_DTYPES)}.") from None


def parse_input(spec: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``1x3x224x224`` or ``1x128:int64`` -> a tensor of that shape (zeros; values are unused on
    the meta path, and zeros are valid token ids)."""
    m = re.fullmatch(r"(\d+(?:x\d+)*)(?::(\w+))?", spec.strip())
    if not m:
        raise FxcostError(
            f"bad input spec '{spec}'. Fix: write the shape as NxCxHxW, optionally with a dtype, "
            "e.g. 1x3x224x224 or 1x128:int64."
        )
    shape = [int(s) for s in m.group(1).split("x")]
    return torch.zeros(shape, dtype=parse_dtype(m.group(2)) if m.group(2) else dtype)


def _call_factory(obj: Any, what: str) -> Any:
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise FxcostError(f"{what} is neither an nn.Module nor a callable returning one.")
    try:
        model = obj()
    except Exception as e:
        raise FxcostError(f"{what}() raised {type(e).__name__}: {e}. Fix the factory.") from e
    if isinstance(model, tuple) and model and isinstance(model[0], nn.Module):
        return model  # (model, example_args) as fxcost.cli.example.example returns
    if not isinstance(model, nn.Module):
        raise FxcostError(f"{what}() returned {type(model).__name__}, not an nn.Module.")
    return model


class Target(NamedTuple):
    """A model with its default inputs (``args`` None where the target has none)."""

    model: nn.Module
    args: tuple | None
    kwargs: dict


def load(target: str, causal_lm: bool = False, meta: bool = False, trust_remote_code: bool = False) -> Target:
    """The model a TARGET names, and its default inputs, as the command line resolves it:

    - ``hf:ORG/NAME[@REVISION]`` (a Hub id: its config.json alone, through the Hub cache; offline
      from the cache with ``HF_HUB_OFFLINE=1``), ``hf:path/to/folder``, ``hf:path/to/config.json``
      or ``hf:MODEL_TYPE``: a transformers model built on meta (no weights), with every input its
      forward needs;
    - ``torchvision:NAME``, ``timm:NAME``: the zoo's model and an image at its resolution;
    - ``package.module:factory``, ``path/to/file.py:factory``: what the factory returns (a model,
      or a ``(model, example_args)`` pair).

    ``causal_lm`` builds an hf target with its language-model head (for generation); ``meta``
    builds a torchvision or timm model on meta where its constructor allows; ``trust_remote_code``
    lets an hf target run the code its repository defines (``auto_map``)."""
    kind, _, name = target.partition(":")
    if not name:
        raise FxcostError(
            f"bad target '{target}'. Fix: use package.module:factory, path/to/file.py:factory, "
            "torchvision:NAME, timm:NAME, hf:ORG/NAME, hf:path/to/config.json or hf:MODEL_TYPE."
        )
    if kind in ("torchvision", "timm"):
        build = _torchvision if kind == "torchvision" else _timm
        if meta:
            try:
                with torch.device("meta"):
                    return Target(*build(name))
            except FxcostError:
                raise
            except Exception:  # a constructor that computes with tensors (regnet's widths)
                pass
        return Target(*build(name))
    if kind == "hf":
        return Target(*_hf(name, causal_lm, trust_remote_code))
    if kind.endswith(".py"):
        if not os.path.isfile(kind):
            raise FxcostError(f"no such file: '{kind}'. Fix: check the path in '{target}'.")
        spec = importlib.util.spec_from_file_location("_fxcost_target", kind)
        assert spec is not None and spec.loader is not None  # a path ending in .py always has one
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise FxcostError(f"importing '{kind}' raised {type(e).__name__}: {e}.") from e
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())  # as for ``python -m`` and uvicorn: packages beside you import
        try:
            module = importlib.import_module(kind)
        except ImportError as e:
            raise FxcostError(
                f"cannot import '{kind}': {e}. Fix: run fxcost from the folder that holds it, or "
                "add that folder to PYTHONPATH."
            ) from e
    obj = getattr(module, name, None)
    if obj is None:
        raise FxcostError(f"'{kind}' has no attribute '{name}'.")
    made = _call_factory(obj, target)
    if isinstance(made, tuple):
        return Target(made[0], tuple(made[1]), {})
    return Target(made, None, {})


#: How to install each optional model zoo without pulling in another torch.
_INSTALL = {
    "torchvision": "pip install --no-deps torchvision  (the release made for your torch)",
    "timm": "pip install timm torch==" + torch.__version__.split("+")[0],
    "transformers": "pip install transformers torch==" + torch.__version__.split("+")[0],
}


def require(package: str, kind: str) -> ModuleType:
    """Import an optional model zoo (torchvision tolerantly), or say in one line how to install it."""
    try:
        if package == "torchvision":
            return import_torchvision()
        import_torchvision_if_present()
        return importlib.import_module(package)
    except ModuleNotFoundError as e:
        if e.name != package:
            raise
        raise FxcostError(
            f"{kind}: targets need {package}, which is not installed. Fix: {_INSTALL[package]}."
        ) from None


def _torchvision(name: str) -> tuple[nn.Module, tuple, dict]:
    tv = require("torchvision", "torchvision")
    try:
        model = tv.models.get_model(name)
    except (ValueError, KeyError) as e:
        raise FxcostError(f"torchvision has no model '{name}'. Fix: see torchvision.models.list_models().") from e
    size = 224
    try:
        weights = list(tv.models.get_model_weights(name))[0]
        size = weights.transforms.keywords.get("crop_size", 224)
    except Exception:
        pass
    return model.eval(), (torch.zeros(1, 3, size, size, device="cpu"),), {}


def _timm(name: str) -> tuple[nn.Module, tuple, dict]:
    timm = require("timm", "timm")

    try:
        model = timm.create_model(name, pretrained=False)
    except RuntimeError as e:
        raise FxcostError(f"timm has no model '{name}'. Fix: see timm.list_models().") from e
    size = model.pretrained_cfg.get("input_size", (3, 224, 224))
    return model.eval(), (torch.zeros(1, *size, device="cpu"),), {}


def _hf(spec: str, causal_lm: bool = False, trust_remote_code: bool = False) -> tuple[nn.Module, tuple, dict]:
    from . import hub

    model = hub.model(hub.config(spec, trust_remote_code), causal_lm, trust_remote_code)
    return model, (), hub.inputs(model)


def import_torchvision_if_present() -> None:
    """timm and transformers import torchvision when it is installed: import it tolerantly first."""
    try:
        import_torchvision()
    except ImportError:
        pass
