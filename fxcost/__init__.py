"""fxcost: what a PyTorch model costs. FLOPs, MACs, parameters, bytes moved, latency, FPS and
achieved FLOP/s, per layer, per operator and in total, counted from a torch.fx graph on meta
tensors (nothing computed, nothing copied).

    >>> import fxcost
    >>> report = fxcost.profile(model, (x,))
    >>> report.total.flops, report.total.macs, report.params
"""

from .analyses.profile import profile
from .analyses.compile import annotate, backend, inductor_pass
from .core.cost import Cost
from .core.version import __version__
from .core.errors import CaptureError, FxcostError, UnsupportedOpError
from .analyses.formula import Formula, formula
from .analyses.generation import Generation, profile_generation
from .core.options import Options, TimingOptions
from .analyses import plans
from .analyses.parallel import ParallelReport, profile_parallel
from .rules.registry import REGISTRY, OpCall, Registry, register_rule
from .pipeline.memory import Memory
from .reports.report import Report
from .reports.peaks import Peak, peak_for
from .reports.roofline import roofline
from .analyses.timing import Timing, measure, time_nodes
from .cli.sweep import sweep

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
    "sweep",
    "Timing",
    "roofline",
    "Peak",
    "peak_for",
    "Cost",
    "Options",
    "TimingOptions",
    "Report",
    "Memory",
    "register_rule",
    "OpCall",
    "Registry",
    "REGISTRY",
    "FxcostError",
    "UnsupportedOpError",
    "CaptureError",
    "__version__",
]
