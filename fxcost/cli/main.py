"""The ``fxcost`` command: its arguments, and the dispatch to one handler per subcommand
(``commands.py``). Bare ``fxcost`` prints the help; a misspelled option or subcommand names the
closest one.

Errors are one line on stderr, exit code 2; ``diff --fail-above`` exits 1 when the gate trips.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..core.errors import FxcostError
from .commands import COMMANDS


class _Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a misspelled option or subcommand."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{_did_you_mean(self, message)}\n")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def _did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    """The known option or subcommand closest to the one argparse did not recognize."""
    subs = _subcommands(parser)
    words = list(subs) + [o for p in (parser, *subs.values()) for a in p._actions for o in a.option_strings]
    wrong = re.findall(r"unrecognized arguments: (\S+)", message) or re.findall(r"invalid choice: '([^']+)'", message)
    close = difflib.get_close_matches(wrong[0], sorted(set(words)), n=1, cutoff=0.6) if wrong else []
    return f" (did you mean {close[0]}?)" if close else ""


def build_parser() -> argparse.ArgumentParser:
    """The ``fxcost`` command's arguments."""
    from ..core.version import __version__

    p = _Parser(
        prog="fxcost",
        description="What a PyTorch model costs: FLOPs, MACs, parameters, bytes moved, "
        "memory, latency. Start with: fxcost example, or fxcost profile torchvision:resnet50.",
    )
    p.add_argument("--version", action="version", version=f"fxcost {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    prof = sub.add_parser("profile", help="count (and optionally time) a model")
    prof.add_argument(
        "target",
        nargs="?",
        help="package.module:factory, file.py:factory, torchvision:NAME, timm:NAME, "
        "hf:ORG/NAME[@REVISION], hf:path/to/config.json or hf:MODEL_TYPE",
    )
    prof.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="[NAME=]SPEC",
        help="input shape, e.g. 1x3x224x224 or 1x128:int64 (repeat for several); NAME=SPEC sets "
        "the keyword input NAME, e.g. pixel_values=1x3x336x336 (the target's other defaults stay)",
    )
    prof.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="hf: targets: run the model code the repository defines (auto_map); only for code you trust",
    )
    prof.add_argument(
        "--kwargs",
        default=None,
        metavar="JSON",
        help='keyword inputs as JSON: {"input_ids": "1x128:int64", "use_cache": false}',
    )
    prof.add_argument("--dtype", default="float32", help="dtype of floating inputs and the model")
    prof.add_argument("--device", default=None, help="move the model and inputs here (for --real/--time)")
    prof.add_argument("--real", action="store_true", help="propagate shapes on real tensors")
    _output_options(prof)
    _table_options(prof)
    prof.add_argument("--time", action="store_true", help="also measure latency, FPS and FLOP/s")
    prof.add_argument(
        "--backward", action="store_true", help="count a training step: forward, backward (and recompute) phases"
    )
    prof.add_argument("--memory", action="store_true", help="also the peak memory and its breakdown")
    prof.add_argument(
        "--mesh",
        default=None,
        metavar="DIM=N,...",
        help="cost one rank of a parallel plan on this mesh, e.g. dp=8,tp=8 (with --plan)",
    )
    prof.add_argument(
        "--plan",
        default=None,
        choices=["tp", "fsdp", "fsdp+tp"],
        help="built-in plan for transformers decoders: Megatron tp, FSDP2, or both",
    )
    prof.add_argument("--rank", type=int, default=0, help="with --mesh: the rank to cost (default 0)")
    prof.add_argument(
        "--links",
        default=None,
        metavar="DIM=LINK,...",
        help="with --mesh: estimate the step's time, e.g. tp=nvlink4,dp=ib_ndr (or bytes/s)",
    )
    prof.add_argument(
        "--peak",
        default=None,
        help="with --links: the device whose roofline bounds the compute, "
        "one of fxcost's table: H200, H100, A100, L40S, L4, A10G, RTX 4090, V100, T4 ...",
    )
    prof.add_argument(
        "--symbolic",
        default=None,
        metavar="NAME=INPUT:AXIS,...",
        help="print the cost as a formula of input sizes, e.g. B=0:0,L=0:1 (INPUT: the "
        "--input index or a --kwargs name; a NAME may size several axes)",
    )
    prof.add_argument(
        "--optimizer",
        choices=["adamw", "adam", "sgd"],
        default=None,
        help="optimizer state counted by --memory --backward",
    )
    prof.add_argument(
        "--keep-outputs",
        action="store_true",
        help="with --memory --backward: the outputs (logits) live through the backward, as in a "
        "loop that holds them (default: only the loss does)",
    )
    prof.add_argument(
        "--prompt",
        type=int,
        default=None,
        metavar="TOKENS",
        help="count generation: a prefill of TOKENS, then --new-tokens decode steps",
    )
    prof.add_argument(
        "--new-tokens",
        type=int,
        default=None,
        metavar="TOKENS",
        help="with --prompt: the tokens generated (decode steps + 1)",
    )
    prof.add_argument("--batch", type=int, default=1, help="sequences generated at once (with --prompt)")

    ex = sub.add_parser("example", help="profile the built-in example model")
    _output_options(ex)
    _table_options(ex)
    ex.add_argument(
        "--time",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time it on this machine (about a second; --no-time to skip)",
    )

    pl = sub.add_parser("plot", help="draw a JSON report: roofline, modules, operators, sweep, generation")
    pl.add_argument(
        "report", help="a JSON report (profile --format json; --symbolic for sweep; --prompt for generation)"
    )
    pl.add_argument(
        "--kind", required=True, choices=["roofline", "modules", "operators", "sweep", "generation"], help="the picture"
    )
    pl.add_argument("--out", required=True, metavar="FILE.png|.svg", help="the image file to write")
    pl.add_argument(
        "--device",
        default=None,
        help="roofline device, e.g. H100 (default: the one the report was timed on; an untimed report needs one)",
    )
    pl.add_argument("--depth", type=int, default=None, help="module depth to draw (default: the leaves)")
    pl.add_argument(
        "--metric",
        default="flops",
        choices=["flops", "macs", "params", "time_ms", "bytes"],
        help="what the bars or the sweep show",
    )
    pl.add_argument(
        "--top",
        type=int,
        default=None,
        help="at most this many bars (default 20) or labelled roofline points (default 8)",
    )
    pl.add_argument("--size", default=None, help="sweep: the symbol on the x axis")
    pl.add_argument("--range", default=None, metavar="START:STOP[:STEP]", help="sweep: its values")
    pl.add_argument("--fix", default="", metavar="NAME=N,...", help="sweep: the other symbols' values")

    sw = sub.add_parser("sweep", help="count many models, each in its own process: a zoo's cost table")
    sw.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="as for profile, with globs over the zoos: 'timm:resnet*', 'torchvision:*', 'hf:*'",
    )
    sw.add_argument("--from", dest="from_file", default=None, metavar="FILE", help="more targets, one per line")
    sw.add_argument(
        "--out",
        required=True,
        metavar="RESULTS.jsonl",
        help="one JSON line per target, appended as each finishes; a re-run skips those recorded",
    )
    sw.add_argument("--csv", default=None, metavar="TABLE.csv", help="also a table: model, input, params, GMACs...")
    sw.add_argument("--jobs", type=int, default=1, help="worker processes at once (default 1)")
    sw.add_argument("--timeout", type=float, default=600, metavar="S", help="seconds per model (default 600)")
    sw.add_argument("--retry-failed", action="store_true", help="run recorded targets that failed again")
    sw.add_argument("--input", action="append", default=[], metavar="SPEC", help="as for profile")
    sw.add_argument("--kwargs", default=None, metavar="JSON", help="as for profile")
    sw.add_argument("--dtype", default="float32", help="as for profile")
    sw.add_argument("--real", action="store_true", help="as for profile")
    sw.add_argument("--backward", action="store_true", help="as for profile")
    sw.add_argument("--memory", action="store_true", help="as for profile")
    sw.add_argument("--flops", choices=["exact", "2mac"], default="exact", help="as for profile")

    mem = sub.add_parser("memory", help="will it fit: memory by dtype, precision and optimizer, the largest batch")
    mem.add_argument("target", help="as for profile: hf:ORG/NAME, hf:path/to/config.json, torchvision:NAME...")
    mem.add_argument("--input", action="append", default=[], metavar="[NAME=]SPEC", help="as for profile, at batch 1")
    mem.add_argument("--kwargs", default=None, metavar="JSON", help="as for profile")
    mem.add_argument("--trust-remote-code", action="store_true", help="as for profile")
    mem.add_argument("--batch", type=int, default=1, help="the batch (default 1)")
    mem.add_argument("--seq", type=int, default=None, help="tokens per sequence (default 2048 for text models)")
    mem.add_argument("--dtype", default="bfloat16", help="inference dtype (default bfloat16)")
    mem.add_argument(
        "--setup",
        default=None,
        metavar="NAME,...",
        help="training setups: fp32, bf16, mixed, adam8bit, sgd, checkpoint, lora (default: all)",
    )
    mem.add_argument("--dp", type=int, default=1, help="data-parallel ranks: also the per-rank peak under ZeRO-1/2/3")
    mem.add_argument(
        "--zero",
        type=int,
        choices=[1, 2, 3],
        default=None,
        help="with --dp and --gpu: fit per rank at this ZeRO stage (default 3)",
    )
    mem.add_argument("--gpu", default=None, help="the device whose memory to fit (fxcost devices lists them)")
    mem.add_argument(
        "--solve", choices=["batch", "seq"], default="batch", help="with --gpu: the largest batch or longest sequence"
    )
    mem.add_argument("--format", choices=["plain", "github", "json"], default="plain", help="tables, markdown or JSON")
    mem.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")

    dev = sub.add_parser("devices", help="the device table: peak FLOP/s, bandwidth, memory and their sources")
    dev.add_argument("--format", choices=["plain", "github"], default="plain", help="a terminal table or markdown")
    dev.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")

    r = sub.add_parser("rules", help="list every cost rule: the forms it serves and its formula")
    r.add_argument("--format", choices=["plain", "github"], default="plain", help="a terminal table or markdown")
    r.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")

    d = sub.add_parser("diff", help="compare two JSON reports, or two sweeps model by model")
    d.add_argument("base", help="the JSON report before (fxcost profile --format json), or a sweep's .jsonl")
    d.add_argument("head", help="the JSON report after, or a sweep's .jsonl")
    d.add_argument(
        "--format",
        choices=["plain", "github", "json"],
        default="plain",
        help="a terminal table, markdown for a PR comment, or JSON",
    )
    d.add_argument("--units", choices=["si", "raw"], default="si", help="1.23 G, or exact integers")
    d.add_argument("--depth", type=int, default=None, help="module depth compared (default: every module)")
    d.add_argument(
        "--fail-above",
        type=float,
        default=None,
        metavar="PCT",
        help="exit 1 when total FLOPs or MACs grow by more than PCT percent",
    )
    d.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")
    return p


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=["plain", "github", "json", "csv"],
        default="plain",
        help="a terminal table, markdown for a PR comment, the JSON report, or the table as CSV",
    )
    p.add_argument("--units", choices=["si", "raw"], default="si", help="1.23 G, or exact integers")
    p.add_argument("--out", default=None, metavar="FILE", help="write here instead of stdout")


def _table_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by", choices=["module", "operator", "node"], default="module", help="rows of the table")
    p.add_argument("--depth", type=int, default=2, help="module tree depth shown (default 2)")
    p.add_argument("--top", type=int, default=None, help="only the N costliest rows (--by operator or node)")
    p.add_argument(
        "--flops",
        choices=["exact", "2mac"],
        default="exact",
        help="exact: a dot product of n is 2n-1 FLOPs; 2mac: 2 FLOPs per MAC (MFU's convention)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fxcost`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "profile" and not args.target:
        if len(argv if argv is not None else sys.argv[1:]) > 1:  # options given, but no model
            print(
                "fxcost: error: profile needs a TARGET. Fix: fxcost profile torchvision:resnet50 "
                "(or mypkg.models:build, file.py:make, timm:NAME, hf:MODEL_TYPE; fxcost example for the example).",
                file=sys.stderr,
            )
            return 2
        _subcommands(parser)["profile"].print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except FxcostError as e:
        print(f"fxcost: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
