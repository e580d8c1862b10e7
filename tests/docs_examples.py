"""The examples of README.md and docs/pages/*.md: each ```python block runs (a page's blocks in
order, in one namespace), each ```bash block runs in bash (a page's blocks in one folder), and
a ```text block right after an example is that example's exact standard output.

    python tests/docs_examples.py [--record] [PAGE ...]

``--record`` writes each example's output into the ```text block after it (then read the diff).
Blocks after a ``<!-- ci:... -->`` marker are the set-up commands, which ``.ci/run`` runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs" / "pages").glob("*.md"))]
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


@dataclass
class Example:
    lang: str
    code: str
    line: int
    marker: str  # the line before the fence
    output: tuple[int, int, str] | None = None  # the ```text block after it: span and text


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    last_end = 0
    for m in _FENCE.finditer(text):
        lang = m.group(1)
        if lang == "text" and found and found[-1].output is None and not text[last_end : m.start()].strip():
            found[-1].output = (m.start(2), m.end(2), m.group(2))
        elif lang in ("python", "bash"):
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
            found.append(Example(lang, m.group(2), text.count("\n", 0, m.start()) + 1, before))
        last_end = m.end()
    return found


def _normal(s: str) -> str:
    return "\n".join(line.rstrip() for line in s.strip("\n").splitlines())


def run_page(page: Path, folder: Path, record: bool = False) -> list[str]:
    """Run a page's examples in ``folder``; returns the mismatches (empty: all as shown)."""
    text = page.read_text()
    # a page's Python runs as a script's does: in a module of its own that sys.modules holds
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    problems, edits = [], []
    here = os.getcwd()
    os.chdir(folder)
    try:
        for ex in examples(text):
            if ex.marker.startswith("<!-- ci:"):
                continue
            where = f"{page.name}:{ex.line}"
            if ex.lang == "python":
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    exec(compile(ex.code, where, "exec"), namespace)
                out = buf.getvalue()
            else:
                r = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", ex.code], cwd=folder, env=env, capture_output=True, text=True
                )
                if r.returncode != 0:
                    raise AssertionError(f"{where}: exit {r.returncode}\n{r.stderr[-2000:]}")
                out = r.stdout
            if ex.output is not None and _normal(out) != _normal(ex.output[2]):
                if record:
                    edits.append((ex.output[0], ex.output[1], _normal(out) + "\n"))
                else:
                    problems.append(
                        f"{where}: printed\n{_normal(out)}\n--- but the page shows\n{_normal(ex.output[2])}"
                    )
    finally:
        os.chdir(here)
        sys.modules.pop(module.__name__, None)
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    if edits:
        page.write_text(text)
    return problems


if __name__ == "__main__":
    from fxcost.zoo.targets import import_torchvision

    import_torchvision()
    args = [a for a in sys.argv[1:] if a != "--record"]
    for page in [Path(a).resolve() for a in args] or PAGES:
        with tempfile.TemporaryDirectory() as d:
            for p in run_page(page, Path(d), record="--record" in sys.argv):
                print(p, "\n")
        print("ran", page.relative_to(REPO))
