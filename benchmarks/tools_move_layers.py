"""Move fxcost's flat modules into layer folders and rewrite every import."""
import os, re, subprocess, sys

ROOT = sys.argv[1]
LAYOUT = {
    "core": ["cost", "errors", "options", "walk", "naming", "guards", "inputs", "version"],
    "rules": ["registry", "signatures", "aten_names"],
    "pipeline": ["shapes", "capture", "symbolic", "trace", "step", "memory", "programs", "interpret"],
    "reports": ["report", "format", "plot", "diff", "roofline", "peaks"],
    "analyses": ["api:profile", "formula", "generation", "parallel", "plans", "compile", "timing"],
    "cli": ["cli:main", "commands", "ci", "docs", "targets", "example"],
}
NEW = {}  # old dotted -> new dotted
for layer, mods in LAYOUT.items():
    for m in mods:
        old, _, new = m.partition(":")
        NEW[f"fxcost.{old}"] = f"fxcost.{layer}.{new or old}"
RULE_FAMILIES = [f[:-3] for f in os.listdir(f"{ROOT}/fxcost/rules") if f.endswith(".py") and f != "__init__.py"]
for fam in RULE_FAMILIES:
    NEW[f"fxcost.rules.{fam}"] = f"fxcost.rules.{fam}"
NEW["fxcost.rules"] = "fxcost.rules"

def git(*a):
    subprocess.run(["git", "-C", ROOT, *a], check=True)

# 1. move files
for layer in LAYOUT:
    os.makedirs(f"{ROOT}/fxcost/{layer}", exist_ok=True)
for old, new in list(NEW.items()):
    if old.startswith("fxcost.rules"):
        continue
    src = f"{ROOT}/{old.replace('.', '/')}.py"
    dst = f"{ROOT}/{new.replace('.', '/')}.py"
    git("mv", src, dst)

def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].replace("/", ".")
    return rel[:-9] if rel.endswith(".__init__") else rel

def package_of(path, mod):
    return mod if path.endswith("__init__.py") else mod.rsplit(".", 1)[0]

# old location of each file, to resolve its old relative imports
OLD_OF = {v: k for k, v in NEW.items()}

REL = re.compile(r"^(\s*)from (\.+)([A-Za-z_][\w.]*)? import (.+)$")

def resolve(pkg, dots, name):
    base = pkg.split(".")
    base = base[: len(base) - (len(dots) - 1)]
    return ".".join(base + ([name] if name else []))

def relative(from_pkg, target):
    a, b = from_pkg.split("."), target.split(".")
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    up = len(a) - common
    return "." * (up + 1) + ".".join(b[common:])

for dirpath, _, files in os.walk(f"{ROOT}/fxcost"):
    for f in files:
        if not f.endswith(".py"):
            continue
        path = os.path.join(dirpath, f)
        mod = module_of(path)
        old_mod = OLD_OF.get(mod, mod)
        old_pkg = package_of(path, old_mod) if not path.endswith("__init__.py") else old_mod
        if not path.endswith("__init__.py"):
            old_pkg = old_mod.rsplit(".", 1)[0]
        new_pkg = package_of(path, mod)
        out = []
        for line in open(path).read().split("\n"):
            m = REL.match(line)
            if m:
                indent, dots, name, rest = m.groups()
                target = resolve(old_pkg, dots, name)
                if name is None and target in ("fxcost",):  # from . import plans
                    names = [n.strip() for n in rest.split(",")]
                    if len(names) == 1 and f"fxcost.{names[0]}" in NEW:
                        full = NEW[f"fxcost.{names[0]}"]
                        parent, leaf = full.rsplit(".", 1)
                        line = f"{indent}from {relative(new_pkg, parent)} import {leaf}" + (
                            "" if leaf == names[0] else f" as {names[0]}")
                        out.append(line)
                        continue
                new_target = NEW.get(target, target)
                line = f"{indent}from {relative(new_pkg, new_target)} import {rest}"
            out.append(line)
        open(path, "w").write("\n".join(out))
print("moved")
