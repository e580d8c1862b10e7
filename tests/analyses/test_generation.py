"""The cost of generating text (issue 13): prefill, decode steps, KV cache, against analytic
counts from each model's own Linear modules and config, and against one profile per step."""

import json

import pytest
import torch

import fxcost

pytest.importorskip("transformers")
from hf import causal_lm, decoder_macs, linear_weights  # noqa: E402

P, G = 16, 40


def _step_macs(model, p: int, window: int | None = None) -> int:
    """A decode step at position p: every Linear once, both attention matmuls over the keys
    it sees: p + 1, or at most the sliding window."""
    cfg = model.config
    keys = p + 1 if window is None else min(p + 1, window)
    return linear_weights(model) + cfg.num_hidden_layers * 2 * cfg.num_attention_heads * cfg.head_dim * keys


def test_llama_generation_is_exact():
    model = causal_lm("llama").eval()
    gen = fxcost.profile_generation(model, prompt_tokens=P, new_tokens=G)
    assert gen.prefill.total.macs == decoder_macs(model, 1, P)
    assert [r["position"] for r in gen.positions] == list(range(P, P + G - 1))
    assert [r["macs"] for r in gen.positions] == [_step_macs(model, p) for p in range(P, P + G - 1)]
    assert gen.decode.total.macs == sum(_step_macs(model, p) for p in range(P, P + G - 1))
    assert gen.total == gen.prefill.total + gen.decode.total
    assert gen.decode.unsupported == [] and gen.prefill.unsupported == []
    cfg = model.config  # keys and values of every layer for the P + G - 1 tokens seen, float32
    assert gen.kv_cache_bytes == cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * (P + G - 1) * cfg.head_dim * 4
    assert len(gen.profiled_positions) <= 6  # affine: a handful of profiles, not one per token


@pytest.mark.parametrize("family", ["mistral", "gemma2"])
def test_sliding_window_attends_to_at_most_the_window(family):
    model = causal_lm(family, sliding_window=24).eval()
    gen = fxcost.profile_generation(model, prompt_tokens=P, new_tokens=G)
    if family == "mistral":  # every layer slides
        assert [r["macs"] for r in gen.positions] == [_step_macs(model, p, 24) for p in range(P, P + G - 1)]
    # whatever the layer pattern, each step equals a profile of that step alone
    for p in (P, 22, 23, 24, 30, P + G - 2):
        one = fxcost.analyses.generation._Steps(model, 1, {}, {}).report(p).total
        assert gen.positions[p - P]["macs"] == one.macs and gen.positions[p - P]["flops"] == one.flops


def test_batch_dtype_and_one_new_token():
    model = causal_lm("qwen2", dtype=torch.bfloat16).eval()
    gen = fxcost.profile_generation(model, prompt_tokens=8, new_tokens=5, batch=3)
    assert gen.positions[0]["macs"] == 3 * _step_macs(model, 8)
    cfg = model.config
    assert gen.kv_cache_bytes == cfg.num_hidden_layers * 2 * 3 * cfg.num_key_value_heads * 12 * cfg.head_dim * 2
    table = gen.table(units="raw").splitlines()
    assert "generating 5 tokens after a 8-token prompt, batch 3" in table[0]
    first = next(line for line in table if line.startswith("first step"))
    assert f"{3 * _step_macs(model, 8):,}" in first or str(3 * _step_macs(model, 8)) in first
    only = fxcost.profile_generation(model, prompt_tokens=8, new_tokens=1)
    assert only.decode.total == fxcost.Cost() and only.positions == []


def test_bad_generation_arguments():
    model = causal_lm("llama")
    with pytest.raises(fxcost.FxcostError, match="positive ints"):
        fxcost.profile_generation(model, prompt_tokens=0, new_tokens=4)
    with pytest.raises(fxcost.FxcostError, match="backward=True does not apply"):
        fxcost.profile_generation(model, prompt_tokens=4, new_tokens=4, backward=True)


def test_cli_generation(capsys):
    from fxcost.cli.main import main

    assert main(["profile", "hf:llama", "--prompt", "64", "--new-tokens", "8"]) == 0
    out = capsys.readouterr().out
    assert "KV cache" in out and "first step" in out and "last step" in out and "decode" in out
    assert main(["profile", "hf:llama", "--prompt", "64", "--new-tokens", "8", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["new_tokens"] == 8 and len(data["positions"]) == 7 and data["kv_cache_bytes"] > 0
    assert data["total"]["macs"] == data["prefill"]["macs"] + data["decode"]["macs"]


def test_generation_memory_includes_the_kv_cache():
    model = causal_lm("llama").eval()
    gen = fxcost.profile_generation(model, prompt_tokens=P, new_tokens=G, memory=True)
    cfg = model.config
    params = sum(p.numel() * 4 for p in model.parameters())
    cache_in = cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * (P + G - 2) * cfg.head_dim * 4
    mem = gen.memory
    assert mem["peak_bytes"] == max(mem["prefill_peak_bytes"], mem["last_step_peak_bytes"])
    assert mem["last_step_peak_bytes"] >= params + cache_in + gen.kv_cache_bytes // (P + G - 1)
    assert gen.prefill.memory["peak_bytes"] > params + cfg.num_hidden_layers * 2 * 2 * P * 16 * 4
    assert json.loads(json.dumps(gen.to_dict()))["memory"] == mem
    # the KV cache after the last step does not depend on memory being asked for
    cache = cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * (P + G - 1) * cfg.head_dim * 4
    assert gen.kv_cache_bytes == fxcost.profile_generation(model, prompt_tokens=P, new_tokens=G).kv_cache_bytes == cache


def test_cli_generation_memory_and_flags_that_do_not_apply(capsys):
    from fxcost.cli.main import main

    assert main(["profile", "hf:llama", "--prompt", "64", "--new-tokens", "8", "--memory", "--units", "raw"]) == 0
    head = capsys.readouterr().out.splitlines()
    assert head[1].startswith("peak memory ") and "last decode step" in head[1]
    assert main(["profile", "hf:llama", "--prompt", "64", "--new-tokens", "8", "--memory", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["memory"]["peak_bytes"] > 0
    assert f"{data['memory']['peak_bytes']:,}" in head[1] or str(data["memory"]["peak_bytes"]) in head[1]
    for flag in ("--time", "--backward", "--real"):
        assert main(["profile", "hf:llama", "--prompt", "64", "--new-tokens", "8", flag]) == 2
        assert f"{flag} does not apply" in capsys.readouterr().err
