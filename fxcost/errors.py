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
