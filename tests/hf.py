"""Small transformers models built from configs (no downloads), and their analytic counts."""

from __future__ import annotations

import torch
from torch import nn

T = __import__("transformers")
from transformers.pytorch_utils import Conv1D  # noqa: E402

#: The 20 decoder families of issue 13, at small widths (every family's own config class).
DECODERS = [
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma",
    "gemma2",
    "gemma3_text",
    "phi3",
    "olmo2",
    "granite",
    "cohere",
    "starcoder2",
    "gpt_neox",
    "gptj",
    "falcon",
    "bloom",
    "opt",
    "smollm3",
    "stablelm",
    "phi",
]
SMALL = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=128,
    head_dim=16,
    max_position_embeddings=64,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    ffn_dim=128,
    word_embed_proj_dim=64,
    n_inner=128,
    rotary_dim=8,
)
MOE = dict(SMALL, moe_intermediate_size=32, num_local_experts=4, num_experts=4, num_experts_per_tok=2)


def config(family: str, **over):
    kw = dict(MOE if family in ("mixtral", "qwen3_moe", "olmoe", "gpt_oss") else SMALL, **over)
    if family == "falcon":  # head_dim is derived there
        kw.pop("head_dim")
    return T.AutoConfig.for_model(family, **kw)


def causal_lm(family: str, device: str = "meta", dtype=None, **over) -> nn.Module:
    cfg = config(family, **over)
    with torch.device(device):
        model = T.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    return model.to(dtype) if dtype is not None else model


def linear_weights(model: nn.Module, skip: tuple[str, ...] = ()) -> int:
    """Sum of in*out over the model's Linear (and GPT-2 Conv1D) modules: the MACs per token."""
    return sum(
        m.weight.numel()
        for name, m in model.named_modules()
        if isinstance(m, (nn.Linear, Conv1D)) and not any(s in name for s in skip)
    )


def decoder_macs(model: nn.Module, batch: int, seq: int) -> int:
    """tokens x sum of linear weights + both attention matmuls, full L x L, per query head."""
    cfg = model.config
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    return batch * seq * linear_weights(model) + cfg.num_hidden_layers * 2 * batch * seq * seq * heads * head_dim
