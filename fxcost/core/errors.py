"""The one exception type fxcost raises for problems with what it was given."""

from __future__ import annotations


class FxcostError(Exception):
    """A problem with the model, inputs or options given to fxcost.

    The message always names the cause and, where there is one, the fix. Internal failures of
    PyTorch are chained as ``__cause__`` so the original traceback stays available.
    """


class UnsupportedOpError(FxcostError):
    """Raised with ``strict=True`` when the graph holds ops that have no cost rule."""


class CaptureError(FxcostError):
    """Every capture path failed; the message lists each path's reason."""


def is_data_dependent(exc: BaseException) -> bool:
    """Whether an error comes from reading tensor values that the meta device does not have."""
    text = str(exc)
    return any(
        s in text
        for s in (
            "cannot be called on meta tensors",
            "_local_scalar_dense",
            "data-dependent",
            "data-independent",  # nonzero, masked_select: output sizes come from values
            "Cannot copy out of meta tensor",
            "meta tensor",
        )
    )


def is_device_mix(exc: BaseException) -> bool:
    """Whether an error comes from a call mixing tensors on different devices."""
    text = str(exc)
    return "device" in text and ("same device" in text or "device meta" in text or "expected device" in text)


def model_line(exc: BaseException) -> str | None:
    """``file:line (source)`` of the innermost frame of the failure outside torch and fxcost:
    the line of the model's own code (or its library's) that made the failing call."""
    import contextlib
    import functools
    import linecache
    import os

    import torch

    # torch and fxcost themselves (with the separator: torchvision's files are the model's code)
    skip = tuple(os.path.dirname(f) + os.sep for f in (torch.__file__, os.path.dirname(__file__)))
    plumbing = (contextlib.__file__, functools.__file__)
    found = None
    tb = exc.__traceback__
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename
        if not path.startswith(skip) and path not in plumbing and not path.startswith("<"):
            found = (path, tb.tb_lineno)
        tb = tb.tb_next
    if found is None:
        return None
    source = linecache.getline(*found).strip()
    return f"{found[0]}:{found[1]}" + (f" ({source})" if source else "")


def explain_failure(exc: BaseException, where: str, real: bool) -> FxcostError:
    """One clear fxcost error for a failure while running the model or a node: what failed,
    the line of model code that made the call, and the fix."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    line = model_line(exc)
    at = f" at {line}" if line else ""
    if not real and is_device_mix(exc):
        return FxcostError(
            f"{where} mixes tensors on different devices{at}: {first}. On meta, fxcost stands meta "
            "tensors in for the model's parameters, buffers and inputs; a tensor the forward keeps "
            "or makes on a real device met them in a call that cannot run on meta. Fix: register "
            "that tensor as a buffer (module.register_buffer) or make it on its input's device "
            "(device=x.device); or profile with real tensors, fxcost.profile(model, args, real=True)."
        )
    if not real and is_data_dependent(exc):
        return FxcostError(
            f"{where} reads tensor values, which meta tensors do not have{at}: {first}. "
            "Fix: profile with real tensors, fxcost.profile(model, args, real=True) (--real on the "
            "command line), on a model small enough to run; or register a rule with a shape= "
            "function for the module that reads them (fxcost.register_rule)."
        )
    return FxcostError(
        f"{where} failed{at}: {type(exc).__name__}: {first}. "
        "Fix: check that the inputs have the shapes and dtypes the model expects."
    )
