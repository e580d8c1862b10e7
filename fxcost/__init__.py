"""fxcost: what a PyTorch model costs. FLOPs, MACs, parameters, bytes moved, latency, FPS and
achieved FLOP/s, per layer, per operator and in total, counted from a torch.fx graph on meta
tensors (nothing computed, nothing copied).

    >>> import fxcost
    >>> report = fxcost.profile(model, (x,))
    >>> report.total.flops, report.total.macs, report.params
"""

import warnings

# torch warns at import when NumPy is absent (fxcost's base install has none and needs none):
# a command should print its output and nothing else
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
    import torch  # noqa: F401

from .analyses import plans  # noqa: E402
from .analyses.compile import annotate, backend, inductor_pass
from .analyses.fit import MemoryPlan, memory_plan
from .analyses.formula import Formula, formula
from .analyses.generation import Generation, profile_generation
from .analyses.parallel import ParallelReport, profile_parallel
from .analyses.profile import profile
from .analyses.summary import ModelStatistics, summary
from .analyses.timing import Timing, measure, time_nodes
from .core.cost import Cost
from .core.errors import CaptureError, FxcostError, UnsupportedOpError
from .core.options import Options, TimingOptions
from .core.version import __version__
from .pipeline.memory import Memory
from .reports.peaks import Peak, peak_for
from .reports.report import Report
from .reports.roofline import roofline
from .rules.registry import REGISTRY, OpCall, Registry, register_rule
from .zoo.sweep import sweep
from .zoo.targets import Target, load

REGISTRY.load()  # the built-in rules, now: a first count then pays nothing for them

__all__ = [
    "profile",
    "summary",
    "ModelStatistics",
    "profile_generation",
    "formula",
    "profile_parallel",
    "memory_plan",
    "MemoryPlan",
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
    "load",
    "Target",
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
