"""fxcost: what a PyTorch model costs. FLOPs, MACs, parameters, bytes moved, latency, FPS and
achieved FLOP/s, per layer, per operator and in total, counted from a torch.fx graph on meta
tensors (nothing computed, nothing copied).

    >>> import fxcost
    >>> report = fxcost.profile(model, (x,))
    >>> report.total.flops, report.total.macs, report.params
"""

from .api import profile
from .compile import annotate, backend, inductor_pass
from .cost import Cost
from .version import __version__
from .errors import CaptureError, FxcostError, UnsupportedOpError
from .formula import Formula, formula
from .generation import Generation, profile_generation
from .options import Options, TimingOptions
from . import plans
from .parallel import ParallelReport, profile_parallel
from .registry import REGISTRY, OpCall, Registry, register_rule
from .report import Report
from .peaks import Peak, peak_for
from .roofline import roofline
from .timing import Timing, measure, time_nodes

REGISTRY.load()  # the built-in rules, now: a first count then pays nothing for them

__all__ = [
    "profile",
    "profile_generation",
    "formula",
    "profile_parallel",
    "plans",
    "ParallelReport",
    "Formula",
    "Generation",
    "annotate",
    "backend",
    "inductor_pass",
    "measure",
    "time_nodes",
    "Timing",
    "roofline",
    "Peak",
    "peak_for",
    "Cost",
    "Options",
    "TimingOptions",
    "Report",
    "register_rule",
    "OpCall",
    "Registry",
    "REGISTRY",
    "FxcostError",
    "UnsupportedOpError",
    "CaptureError",
    "__version__",
]
