"""Core: the options of one count, a frozen object built and checked once at the entry point
(``profile``, ``annotate``, ``backend``, ``inductor_pass``, ``measure``, ``time_nodes``, the CLI)
and carried as it is to the capture, the rules (``OpCall.options``) and the report
(``Report.settings``).

A misspelled keyword is a ``TypeError`` naming the closest valid one; a bad value, or options
that do not apply together, an ``FxcostError``: nothing is silently ignored.
"""

from __future__ import annotations

import difflib
import enum
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from .errors import FxcostError

F = TypeVar("F", bound=Callable[..., Any])

FLOPS_MODES = ("exact", "2mac")
#: "full": causal attention's whole L x S (as published figures and FlopCounterMode count);
#: "causal": only the query-key pairs a causal mask lets through. ("unmasked", its name before
#: 0.2, is read as "causal".)
ATTENTION_MODES = ("full", "causal")


class CaptureMethod(str, enum.Enum):
    """How a model is captured: asked for with ``capture=`` (``AUTO``, ``SYMBOLIC_TRACE`` or
    ``RECORD``), and told by ``report.capture["method"]`` (which one ran, or one of the paths
    fxcost chooses by itself). A ``str``: it compares, prints and serializes as its value.

    - ``auto``: ``record``, falling back to ``symbolic_trace`` for a model the recording
      cannot run (the report says why, in ``capture["fallback_reason"]``);
    - ``symbolic_trace``: ``torch.fx.symbolic_trace`` with fxcost's leaf modules, then ValueProp;
    - ``record``: the forward run once on meta tensors, each torch call recorded as a node;
    - ``autograd``: a training step recorded at the aten level, forward and backward
      (``backward=True``, ``memory=True``, ``profile_parallel``);
    - ``fx``: a GraphModule whose nodes carry their values already (``ep.module()``), costed as is;
    - ``export``: an ``ExportedProgram``'s own graph;
    - ``dynamo``, ``inductor_post_grad``: the graphs ``torch.compile`` hands fxcost's backend and
      Inductor pass.
    """

    AUTO = "auto"
    SYMBOLIC_TRACE = "symbolic_trace"
    RECORD = "record"
    AUTOGRAD = "autograd"
    FX = "fx"
    EXPORT = "export"
    DYNAMO = "dynamo"
    INDUCTOR = "inductor_post_grad"

    __str__ = str.__str__
    __format__ = str.__format__  # type: ignore[assignment]  # format as the plain string


#: The capture methods a user may ask for.
CAPTURES = tuple(m.value for m in (CaptureMethod.AUTO, CaptureMethod.SYMBOLIC_TRACE, CaptureMethod.RECORD))
#: Optimizer states kept per trainable parameter, in units of the parameter's own bytes.
OPTIMIZER_STATES = {None: 0, "sgd": 1, "adam": 2, "adamw": 2}


@dataclass(frozen=True)
class TimingOptions:
    """How ``fxcost.measure`` times a model (see its docstring); ``peak`` (a ``fxcost.Peak``)
    overrides the device's roofline peak for utilization."""

    warmup: int = 10
    iters: int | None = None
    min_time_s: float = 1.0
    max_iters: int = 100_000
    batch: int | None = None
    flush_l2: bool = False
    cuda_graph: bool = False
    progress: bool | None = None
    peak: Any = None

    def __post_init__(self) -> None:
        for name in ("warmup", "iters", "max_iters", "batch"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise FxcostError(f"{name}={value!r} must be a non-negative int.")
        if not isinstance(self.min_time_s, (int, float)) or self.min_time_s < 0:
            raise FxcostError(f"min_time_s={self.min_time_s!r} must be a non-negative number of seconds.")
        _check_bools(self, ("flush_l2", "cuda_graph"))
        if self.progress is not None:
            _check_bools(self, ("progress",))

    def measure_kwargs(self) -> dict[str, Any]:
        """The keywords of ``fxcost.measure``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "peak"}


@dataclass(frozen=True)
class Options:
    """What to count and how. Every field is documented on ``fxcost.profile``.

    ``registry`` is the ``fxcost.Registry`` of rules (None: the built-ins and ``register_rule``
    additions); ``timing`` is None unless the model is also timed (``measure=True``).
    """

    flops: str = "exact"
    attention: str = "full"
    capture: CaptureMethod = CaptureMethod.AUTO
    real: bool = False
    strict: bool = False
    backward: bool = False
    memory: bool = False
    optimizer: str | None = None
    keep_outputs: bool = False
    registry: Any = None
    timing: TimingOptions | None = None

    def __post_init__(self) -> None:
        if self.attention == "unmasked":
            object.__setattr__(self, "attention", "causal")
        for name, allowed in (("flops", FLOPS_MODES), ("attention", ATTENTION_MODES), ("capture", CAPTURES)):
            if getattr(self, name) not in allowed:
                raise FxcostError(f"{name}={getattr(self, name)!r} is not one of {', '.join(map(repr, allowed))}.")
        object.__setattr__(self, "capture", CaptureMethod(self.capture))
        _check_bools(self, ("real", "strict", "backward", "memory", "keep_outputs"))
        if self.optimizer not in OPTIMIZER_STATES:
            raise FxcostError(
                f"optimizer={self.optimizer!r} is not one of "
                f"{', '.join(repr(o) for o in OPTIMIZER_STATES)}. Fix: optimizer='adamw', 'adam', "
                "'sgd' (with momentum) or None."
            )
        if self.optimizer is not None and not (self.memory and self.backward):
            raise FxcostError(
                "optimizer= is counted by the training step's memory. Fix: pass memory=True and "
                "backward=True with it, or drop it."
            )
        if self.keep_outputs and not (self.memory and self.backward):
            raise FxcostError(
                "keep_outputs= changes the training step's memory. Fix: pass memory=True and "
                "backward=True with it, or drop it."
            )
        if self.real and (self.backward or self.memory):
            raise FxcostError(
                f"{'backward' if self.backward else 'memory'}=True is counted on meta stand-ins; "
                "real=True does not apply. Fix: drop real=True."
            )
        if self.backward and self.capture != "auto":
            raise FxcostError(
                f"backward=True records the training step as autograd runs it; capture="
                f"{self.capture.value!r} does not apply. Fix: drop capture=."
            )

    @classmethod
    def of(cls, caller: str, measure: bool = False, **given: Any) -> Options:
        """The options from an entry point's keywords: those of ``Options`` and, with
        ``measure=True``, of ``TimingOptions``. A misspelled keyword is a TypeError naming the
        closest valid one; a timing keyword without ``measure=True`` an FxcostError."""
        own = {f.name for f in fields(cls) if f.name != "timing"}
        timed = {f.name for f in fields(TimingOptions)}
        for name in given:
            if name not in own | timed:
                close = difflib.get_close_matches(name, sorted(own | timed | {"measure"}), n=1)
                raise TypeError(
                    f"{caller}() got an unexpected keyword argument {name!r}"
                    + (f"; did you mean {close[0]!r}?" if close else "")
                )
        timing_kw = {k: v for k, v in given.items() if k in timed}
        if timing_kw and not measure:
            raise FxcostError(
                f"{', '.join(timing_kw)} configure the timing. Fix: pass measure=True with them, or drop them."
            )
        timing = TimingOptions(**timing_kw) if measure else None
        return cls(**{k: v for k, v in given.items() if k in own}, timing=timing)

    def but(self, **changes: Any) -> Options:
        """A copy with ``changes`` applied, checked again as ``of`` checks a new one (an entry
        point that calls another passes its options on this way, e.g. ``opts.but(backward=False)``)."""
        return replace(self, **changes)

    def counting(self) -> dict[str, Any]:
        """What the report records of how it counted (JSON-safe)."""
        return {"flops": self.flops, "attention": self.attention, "real": self.real, "backward": self.backward}


def keywords_checked(fn: F) -> F:
    """Make a misspelled keyword of ``fn`` a TypeError naming the closest valid one (Python's
    own names none)."""
    names = [n for n, p in inspect.signature(fn).parameters.items() if p.kind != p.VAR_KEYWORD]

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name in kwargs:
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                raise TypeError(
                    f"{fn.__name__}() got an unexpected keyword argument {name!r}"
                    + (f"; did you mean {close[0]!r}?" if close else "")
                )
        return fn(*args, **kwargs)

    return checked  # type: ignore[return-value]


def _check_bools(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        if not isinstance(getattr(obj, name), bool):
            raise FxcostError(f"{name}={getattr(obj, name)!r} must be True or False.")


#: The defaults, for entry points given nothing.
DEFAULT = Options()
