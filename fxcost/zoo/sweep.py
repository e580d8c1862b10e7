"""``fxcost sweep``: cost tables for whole model zoos, each model counted in a process of its own.

A sweep expands its targets (globs over the zoos: ``timm:resnet*``, ``torchvision:*``, ``hf:*``),
then counts each in a worker process forked from a server that has imported torch, fxcost and
the zoos once (a fresh ``python`` per model would spend 3 s importing them). A worker that
crashes (a segfault, ``os.abort()``, an out-of-memory kill) or hangs past ``timeout`` becomes
that row's status, and the sweep goes on. Each finished row is appended to a JSON-lines file at
once, so that an interrupted sweep resumes where it stopped: targets already recorded there are
skipped (``retry_failed`` runs those that failed again).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any

from ..core.errors import FxcostError

#: The counting options a sweep passes to every ``fxcost.profile`` (as ``fxcost profile``'s flags).
PROFILE_OPTIONS = ("real", "flops", "backward", "memory", "attention")
STATUSES = ("ok", "error", "timeout", "crashed")


def expand(targets: Iterable[str]) -> list[str]:
    """Targets with their globs expanded over the zoos, in order, each once:
    ``timm:resnet*`` (timm's model names), ``torchvision:*`` (every torchvision model),
    ``hf:*`` (every transformers model type). Other targets are kept as given."""
    out: list[str] = []
    for target in targets:
        zoo, _, name = target.partition(":")
        if not any(c in name for c in "*?["):
            out.append(target)
            continue
        names = [n for n in _zoo_names(zoo) if fnmatch.fnmatchcase(n, name)]
        if not names:
            raise FxcostError(f"'{target}' matches no model. Fix: check the pattern (fnmatch: * ? [...]).")
        out += [f"{zoo}:{n}" for n in names]
    return list(dict.fromkeys(out))


def _zoo_names(zoo: str) -> list[str]:
    from .targets import require

    if zoo == "torchvision":
        return sorted(require("torchvision", zoo).models.list_models())
    if zoo == "timm":
        return list(require("timm", zoo).list_models())
    if zoo == "hf":
        return sorted(require("transformers", zoo).CONFIG_MAPPING.keys())
    raise FxcostError(
        f"globs work over the zoos torchvision:, timm: and hf:, not '{zoo}:'. "
        "Fix: list the targets, or put them in a file for --from."
    )


def read_rows(path: str | None) -> dict[str, dict]:
    """The rows of a sweep's JSON-lines file by target (the last row of a target wins)."""
    rows: dict[str, dict] = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short when an earlier sweep was killed
                    rows[row["target"]] = row
    return rows


def sweep(
    targets: Iterable[str],
    *,
    out: str | None = None,
    csv_out: str | None = None,
    jobs: int = 1,
    timeout: float = 600.0,
    retry_failed: bool = False,
    inputs: list[str] | None = None,
    kwargs: dict | None = None,
    dtype: str = "float32",
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> list[dict]:
    """Count every target (as ``fxcost profile`` would) in worker processes, ``jobs`` at a time.

    Returns one row per target (dict): ``target``, ``status`` (ok, error, timeout, crashed),
    ``input`` (the input shapes used), ``params``, ``macs``, ``flops``, ``bytes``, ``capture``,
    ``complete`` and ``unsupported``, ``seconds`` (the count) and ``wall_seconds`` (building the
    model included), ``error``. ``out``: a JSON-lines file rows are appended to as they finish;
    targets already in it are not run again (``retry_failed``: except those not ok).
    ``csv_out``: a table of the rows, like timm's results files. ``inputs``/``kwargs``/``dtype``
    and ``options`` (``real``, ``flops``, ``backward``, ``memory``, ``attention``) are those of
    ``fxcost profile``.
    """
    unknown = set(options) - set(PROFILE_OPTIONS)
    if unknown:
        raise FxcostError(f"sweep() got unknown options {sorted(unknown)}. Fix: use {', '.join(PROFILE_OPTIONS)}.")
    if jobs < 1 or timeout <= 0:
        raise FxcostError("jobs must be at least 1 and timeout positive. Fix: --jobs 2 --timeout 600.")
    for path in (out, csv_out):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            raise FxcostError(f"cannot write '{path}': no folder '{folder}'. Fix: create it, or write elsewhere.")
    names = expand(targets)
    done = read_rows(out)
    todo = [t for t in names if t not in done or (retry_failed and done[t].get("status") != "ok")]
    request = {"inputs": list(inputs or []), "kwargs": kwargs, "dtype": dtype, "options": options}
    ctx = _context()
    running: list[tuple[str, Any, Connection, float, str]] = []
    finished = len(names) - len(todo)
    try:
        while todo or running:
            while todo and len(running) < jobs:
                target = todo.pop(0)
                running.append(_start(ctx, target, request))
            time.sleep(0.02)
            for job in list(running):
                row = _poll(job, timeout)
                if row is None:
                    continue
                running.remove(job)
                done[row["target"]] = row
                finished += 1
                if out:
                    with open(out, "a") as f:
                        f.write(json.dumps(row) + "\n")
                if progress:
                    progress(f"[{finished}/{len(names)}] {row['target']}: {_summary(row)}")
    finally:
        for _, proc, _, _, log in running:  # interrupted: no worker outlives the sweep
            _kill(proc)
            _remove(log)
    rows = [done[t] for t in names if t in done]
    if csv_out:
        write_csv(rows, csv_out)
    return rows


def _summary(row: dict) -> str:
    if row["status"] == "ok":
        return f"{row['macs'] / 1e9:.3f} GMACs" + ("" if row["complete"] else " (incomplete)")
    return f"{row['status']}: {row.get('error') or ''}"[:120]


def _context() -> Any:
    """Workers fork from a server that imported torch, fxcost and the installed zoos once."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["fxcost.zoo.preload", "fxcost.zoo.sweep"])
    return ctx


def _start(ctx: Any, target: str, request: dict) -> tuple[str, Any, Connection, float, str]:
    receive, send = ctx.Pipe(duplex=False)
    fd, log = tempfile.mkstemp(prefix="fxcost-sweep-", suffix=".log")
    os.close(fd)
    proc = ctx.Process(target=_worker, args=(target, request, send, log), daemon=True)
    proc.start()
    send.close()
    return target, proc, receive, time.monotonic(), log


def _poll(job: tuple[str, Any, Connection, float, str], timeout: float) -> dict | None:
    """The row of a finished worker, or None while it runs."""
    target, proc, receive, started, log = job
    row = None
    if receive.poll():
        try:
            row = receive.recv()
        except (EOFError, OSError):
            row = None
    if row is None and proc.is_alive():
        if time.monotonic() - started <= timeout:
            return None
        _kill(proc)
        row = _failed(target, "timeout", f"no result after {timeout:g} s; the worker was killed")
    elif row is None:
        proc.join()
        code = proc.exitcode
        why = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        if code == -signal.SIGKILL:
            why += " (out of memory?)"
        tail = _tail(log)
        row = _failed(target, "crashed", why + (f": {tail}" if tail else ""))
    proc.join(timeout=5)
    receive.close()
    _remove(log)
    row["wall_seconds"] = round(time.monotonic() - started, 3)
    return row


def _failed(target: str, status: str, error: str) -> dict:
    return {"target": target, "status": status, "error": error}


def _kill(proc: Any) -> None:
    if proc.is_alive():
        proc.kill()
    proc.join(timeout=5)


def _tail(path: str, lines: int = 3) -> str:
    try:
        with open(path, errors="replace") as f:
            return " | ".join(line.strip() for line in f.read().splitlines()[-lines:] if line.strip())
    except OSError:
        return ""


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _worker(target: str, request: dict, send: Connection, log: str) -> None:
    """In the worker: build ``target`` (on meta where its zoo allows), count it, send its row."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)  # what the model prints goes to the log, whose tail names a crash
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    import warnings

    warnings.filterwarnings("ignore")
    try:
        row = count_target(target, request)
    except Exception as e:  # noqa: BLE001 - a model's failure is its row's status
        row = _failed(target, "error", f"{type(e).__name__}: {e}".splitlines()[0][:500])
    send.send(row)
    send.close()


def count_target(target: str, request: dict) -> dict:
    """One row: ``target`` built and counted as ``fxcost profile`` would."""
    import torch

    import fxcost

    from .inputs import cast, model_inputs
    from .targets import load, parse_dtype

    model, default_args, default_kwargs = load(target, meta=True)
    pos, kwargs = model_inputs(request["inputs"], request["kwargs"], request["dtype"], default_args, default_kwargs)
    model = cast(model, (), {}, parse_dtype(request["dtype"]))[0]
    start = time.perf_counter()
    report = fxcost.profile(model, pos, kwargs, **request["options"])
    seconds = time.perf_counter() - start
    shapes = [
        f"{'x'.join(map(str, t.shape))}:{str(t.dtype).replace('torch.', '')}"
        for t in (*pos, *kwargs.values())
        if isinstance(t, torch.Tensor)
    ]
    total = report.total
    return {
        "target": target,
        "status": "ok",
        "input": shapes,
        "params": report.params,
        "macs": total.macs,
        "flops": total.flops,
        "bytes": total.bytes,
        "capture": str(report.capture["method"]),
        "complete": not report.unsupported,
        "unsupported": [u.target for u in report.unsupported],
        "seconds": round(seconds, 4),
        "fxcost": fxcost.__version__,
        "error": None,
    }


CSV_COLUMNS = ("model", "input", "param_count", "gmacs", "gflops", "gbytes", "status", "complete", "capture")


def write_csv(rows: list[dict], path: str) -> None:
    """A table of the rows, one per model, like timm's results files (parameters in millions,
    MACs, FLOPs and bytes in G); failed rows keep their status and empty figures."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            ok = r.get("status") == "ok"
            w.writerow(
                [
                    r["target"],
                    " ".join(r.get("input") or []),
                    f"{r['params'] / 1e6:.3f}" if ok else "",
                    f"{r['macs'] / 1e9:.4f}" if ok else "",
                    f"{r['flops'] / 1e9:.4f}" if ok else "",
                    f"{r['bytes'] / 1e9:.4f}" if ok else "",
                    r["status"],
                    r.get("complete", "") if ok else "",
                    r.get("capture", "") if ok else "",
                ]
            )
