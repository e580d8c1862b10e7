"""Every public entry point called from several threads at once gives what serial calls give,
without an error, and leaves the models as they were."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch
from helpers import assert_same, snapshot
from torch import nn

import fxcost

T = pytest.importorskip("transformers")
tvm = pytest.importorskip("torchvision.models")
import hf  # noqa: E402


def _concurrently(calls: list[Callable[[], Any]], threads: int = 6, rounds: int = 4) -> list[tuple[int, Any]]:
    """Each thread makes every call ``rounds`` times, all threads released at once: (call index,
    result or the exception raised)."""
    start = threading.Barrier(threads)
    out: list[tuple[int, Any]] = []

    def work() -> None:
        start.wait()
        for _ in range(rounds):
            for i, call in enumerate(calls):
                try:
                    out.append((i, call()))
                except Exception as e:  # noqa: BLE001 - the test reports every failure
                    out.append((i, e))

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return out


def test_six_threads_profile_three_models_as_serial_calls_do():
    with torch.device("meta"):
        models = [
            (tvm.resnet50().eval(), (torch.empty(1, 3, 224, 224),), {}),
            (tvm.vit_b_16().eval(), (torch.empty(1, 3, 224, 224),), {}),
            (hf.causal_lm("llama"), (torch.zeros(1, 16, dtype=torch.long),), {"use_cache": False}),
        ]
    snaps = [snapshot(m) for m, _, _ in models]
    calls = [lambda m=m, a=a, k=k: fxcost.profile(m, a, k).to_dict()["total"] for m, a, k in models]
    calls += [
        lambda m=m, a=a: fxcost.profile(m, a, capture="symbolic_trace").to_dict()["total"] for m, a, _ in models[:2]
    ]  # fx's tracer patches nn.Module.__call__ process-wide
    serial = [call() for call in calls]
    results = _concurrently(calls)
    assert len(results) == 6 * 4 * len(calls)
    errors = [r for _, r in results if isinstance(r, Exception)]
    assert errors == []
    assert all(r == serial[i] for i, r in results)
    for (m, _, _), snap in zip(models, snaps):
        assert_same(m, snap)


def test_every_entry_point_concurrently():
    llama = hf.causal_lm("llama")
    ids = torch.zeros(2, 16, dtype=torch.long)
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    x = torch.randn(2, 3, 8, 8)
    gm = torch.fx.symbolic_trace(cnn)
    exported = torch.export.export(cnn.eval(), (x,)).module()
    backend, inductor = fxcost.backend(inner=lambda g, _: g.forward), fxcost.inductor_pass()
    aten_graph = torch.export.export(cnn.eval(), (x,)).run_decompositions().graph_module.graph
    user_thread_out = cnn.eval()(x)
    calls = [
        lambda: fxcost.profile(
            llama, (), {"input_ids": ids, "labels": ids, "use_cache": False}, backward=True, memory=True
        ).to_dict()["total"],
        lambda: str(fxcost.formula(llama, (ids,), dims={"B": [(0, 0)], "L": [(0, 1)]}).flops),
        lambda: fxcost.profile_generation(llama, prompt_tokens=8, new_tokens=4).total.macs,
        lambda: (
            fxcost.profile_parallel(
                lambda: hf.causal_lm("llama", num_key_value_heads=4),
                (),
                {"input_ids": ids, "use_cache": False},
                mesh={"tp": 2},
            ).report.total.macs
        ),
        lambda: fxcost.annotate(gm, x).total.macs,
        lambda: fxcost.annotate(exported, x).total.macs,
        lambda: fxcost.measure(cnn, (x,), warmup=1, iters=2).device,
        lambda: (backend(gm, [x]), backend.graphs[-1].total.macs)[1],
        lambda: (inductor(aten_graph), inductor.graphs[-1].total.macs)[1],
        lambda: bool(torch.allclose(cnn(x), user_thread_out)),  # a user's own forward meanwhile
    ]
    snap = snapshot(llama), snapshot(cnn)
    serial = [call() for call in calls]
    results = _concurrently(calls, threads=4, rounds=2)
    errors = [f"{i}: {type(r).__name__}: {r}" for i, r in results if isinstance(r, Exception)]
    assert errors == []
    assert all(r == serial[i] for i, r in results), [(i, r, serial[i]) for i, r in results if r != serial[i]]
    assert [g.capture["graph"] for g in backend.graphs] == list(range(len(backend.graphs)))
    assert_same(llama, snap[0])
    assert_same(cnn, snap[1])
