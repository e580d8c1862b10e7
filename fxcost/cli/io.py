"""Command line: what every handler reads and writes: atomic writes to a file or stdout, reports
and JSON files read with a clear error, and NAME=VALUE lists."""

from __future__ import annotations

import json
import os
import sys
import tempfile

from ..core.errors import FxcostError


def write(text: str, out: str | None) -> None:
    """stdout, or ``out`` written atomically: no partial file is ever left."""
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise FxcostError(f"cannot write '{out}': the directory '{folder}' does not exist. Fix: create it first.")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".fxcost-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a new file follows the umask
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_report(path: str):
    from ..reports.report import Report

    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise FxcostError(f"cannot read report '{path}': {e.strerror}. Fix: check the path.") from e
    try:
        return Report.from_json(text)
    except FxcostError as e:
        raise FxcostError(f"{path}: {e}") from e


def pairs(spec: str, flag: str, example: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, _, value = item.partition("=")
        if not key or not value:
            raise FxcostError(f"{flag} item {item!r} is not NAME=VALUE. Fix: {flag} {example}.")
        out[key] = value
    return out


def read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise FxcostError(f"cannot read '{path}': {e.strerror}. Fix: check the path.") from e
    except json.JSONDecodeError as e:
        raise FxcostError(f"'{path}' is not JSON ({e}).") from e
