"""fxcost/zoo/hub.py: transformers models by Hub id, folder, config file or model type, from a
Hub cache each test lays out itself (nothing is downloaded), with every input their forward needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import fxcost
from fxcost.zoo.targets import import_torchvision

import_torchvision()
transformers = pytest.importorskip("transformers")
huggingface_hub = pytest.importorskip("huggingface_hub")

# The published configurations (config.json on the Hub, the fields that shape the model)
LLAMA_31_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "bos_token_id": 128000,
    "eos_token_id": 128001,
}
MISTRAL_7B = {
    "architectures": ["MistralForCausalLM"],
    "model_type": "mistral",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 32000,
    "max_position_embeddings": 32768,
    "sliding_window": 4096,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
MIXTRAL_8X7B = {
    "architectures": ["MixtralForCausalLM"],
    "model_type": "mixtral",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
    "vocab_size": 32000,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
PUBLISHED = {  # parameters, as the model cards give them
    "meta-llama/Llama-3.1-8B": (LLAMA_31_8B, 8_030_261_248),
    "mistralai/Mistral-7B-v0.1": (MISTRAL_7B, 7_241_732_096),
    "mistralai/Mixtral-8x7B-v0.1": (MIXTRAL_8X7B, 46_702_792_704),
}
SHA = "0123456789abcdef0123456789abcdef01234567"


def lay_out(cache, repo: str, config: dict) -> None:
    """A repository's config.json as huggingface_hub caches it: the snapshot of a commit, and
    refs/main naming it."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "snapshots" / SHA).mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(SHA)
    (root / "snapshots" / SHA / "config.json").write_text(json.dumps(config))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An offline Hub cache holding the published configs."""
    cache = tmp_path / "hub"
    for repo, (config, _) in PUBLISHED.items():
        lay_out(cache, repo, config)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _decoder_macs(config: dict, L: int) -> int:
    """Analytic MACs of a decoder's forward over L tokens: every linear weight once per token
    (the MoE's routed experts k of n, its router too), attention's QKᵀ and AV over the full L×L,
    and the LM head."""
    d, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    hd = d // heads
    attention_weights = 2 * d * d + 2 * d * kv * hd
    experts = config.get("num_local_experts")
    mlp = 3 * d * inter * (config["num_experts_per_tok"] if experts else 1) + (d * experts if experts else 0)
    per_token = layers * (attention_weights + mlp) + d * config["vocab_size"]
    return L * per_token + layers * heads * L * L * 2 * hd


@pytest.mark.parametrize("repo", list(PUBLISHED))
def test_a_hub_id_from_the_cache_gives_the_published_parameters_and_analytic_macs(hub, repo):
    config, params = PUBLISHED[repo]
    model, args, kwargs = fxcost.load(f"hf:{repo}")
    assert type(model).__name__ == config["architectures"][0]  # the class the config names
    assert next(model.parameters()).is_meta and next(model.parameters()).dtype == torch.bfloat16
    assert sum(p.numel() for p in model.parameters()) == params
    L = kwargs["input_ids"].shape[1]
    r = fxcost.profile(model, args, kwargs)
    assert r.params == params
    if "num_local_experts" not in config:  # a router's choice depends on values meta lacks
        assert r.total.macs == _decoder_macs(config, L)


def test_a_revision_a_folder_and_a_config_file(hub, tmp_path):
    by_rev, _, _ = fxcost.load(f"hf:mistralai/Mistral-7B-v0.1@{SHA}")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(MISTRAL_7B))
    by_dir, _, _ = fxcost.load(f"hf:{folder}")
    by_file, _, _ = fxcost.load(f"hf:{folder / 'config.json'}")
    counts = {sum(p.numel() for p in m.parameters()) for m in (by_rev, by_dir, by_file)}
    assert counts == {7_241_732_096}


def test_mixtral_macs_route_two_of_eight_experts(hub):
    # on real tensors the router picks 2 of 8 experts per token: a small Mixtral shape counted
    # on real weights equals the analytic count with 2 experts (the meta path sees the same)
    small = dict(MIXTRAL_8X7B, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=256, torch_dtype="float32")  # fmt: skip
    lay_out(hub, "me/tiny-mixtral", small)
    model, args, kwargs = fxcost.load("hf:me/tiny-mixtral")
    real = type(model)._from_config(model.config).eval()
    r = fxcost.profile(real, args, kwargs, real=True)
    assert r.total.macs == _decoder_macs(small, kwargs["input_ids"].shape[1])


def _cli(*argv, env=None):
    return subprocess.run(
        [sys.executable, "-m", "fxcost", *argv], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_the_command_line_takes_a_hub_id_offline(hub):
    p = _cli("profile", "hf:mistralai/Mistral-7B-v0.1", "--depth", "1")
    assert p.returncode == 0, p.stderr
    assert "MistralForCausalLM: 7.24 G params" in p.stdout


def test_bad_names_say_why_in_one_line(hub, tmp_path):
    p = _cli("profile", "hf:meta-llama/Llama-3.1-70B")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1
    assert "HF_HUB_OFFLINE" in p.stderr and str(hub) in p.stderr

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({"model_type": "frobnicator", "hidden_size": 8}))
    p = _cli("profile", f"hf:{unknown}")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1
    assert f"transformers {transformers.__version__} does not know model type 'frobnicator'" in p.stderr

    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(
        json.dumps({"model_type": "my_arch", "auto_map": {"AutoConfig": "configuration_my.MyConfig"}})
    )
    p = _cli("profile", f"hf:{remote}")
    assert p.returncode != 0 and "--trust-remote-code" in p.stderr

    p = _cli("profile", "hf:no_such_type")
    assert p.returncode != 0 and "has no model type 'no_such_type'" in p.stderr


# -- every model's inputs ----------------------------------------------------------------------
TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=2, vocab_size=300, max_position_embeddings=512)  # fmt: skip
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                   image_size=56, patch_size=14)  # fmt: skip
TINY = {
    "llava": {
        "model_type": "llava",
        "architectures": ["LlavaForConditionalGeneration"],
        "text_config": dict(TINY_TEXT, model_type="llama"),
        "vision_config": dict(TINY_VISION, model_type="clip_vision_model", projection_dim=32),
        "image_token_index": 299,
        "vision_feature_layer": -1,
    },
    "t5": {
        "model_type": "t5",
        "architectures": ["T5ForConditionalGeneration"],
        "d_model": 32,
        "d_ff": 64,
        "d_kv": 16,
        "num_heads": 2,
        "num_layers": 1,
        "vocab_size": 300,
    },  # fmt: skip
    "whisper": {
        "model_type": "whisper",
        "architectures": ["WhisperForConditionalGeneration"],
        "d_model": 32,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 64,
        "decoder_ffn_dim": 64,
        "num_mel_bins": 16,
        "max_source_positions": 50,
        "max_target_positions": 64,
        "vocab_size": 300,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "decoder_start_token_id": 1,
    },  # fmt: skip
    "vit": {"model_type": "vit", "architectures": ["ViTForImageClassification"], **TINY_VISION},
    "qwen2_vl": {
        "model_type": "qwen2_vl",
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "text_config": dict(
            TINY_TEXT,
            model_type="qwen2_vl_text",
            bos_token_id=1,
            eos_token_id=2,
            rope_scaling={"type": "mrope", "mrope_section": [2, 2, 4]},
        ),  # fmt: skip
        "vision_config": {
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },  # fmt: skip
        "image_token_id": 299,
        "video_token_id": 298,
        "vision_start_token_id": 297,
    },
}
#: the vision tower and M-RoPE of Qwen2-VL read the image grid's and the ids' values: real=True
NEEDS_VALUES = {"qwen2_vl"}


def _fcm(model, kwargs):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(**kwargs)
    return fc.get_total_flops()


@pytest.mark.parametrize("family", list(TINY))
def test_default_inputs_of_vlm_encoder_decoder_and_vision_models_match_flop_counter_mode(tmp_path, family):
    folder = tmp_path / family
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY[family]))
    model, args, kwargs = fxcost.load(f"hf:{folder}")
    assert type(model).__name__ == TINY[family]["architectures"][0]
    # the same model on real weights, eager attention (FlopCounterMode counts its matmuls)
    real = type(model)._from_config(model.config, attn_implementation="eager").eval()
    if family in NEEDS_VALUES:
        with pytest.raises(fxcost.FxcostError, match="real=True"):
            fxcost.profile(model, args, kwargs)
        r = fxcost.profile(real, args, kwargs, strict=True, real=True)
    else:
        r = fxcost.profile(model, args, kwargs, strict=True)
    assert 2 * r.total.macs == _fcm(real, {k: v.clone() for k, v in kwargs.items()})
    if family == "llava":  # as many image tokens as the tower gives features: (56 / 14)² patches
        assert int((kwargs["input_ids"] == 299).sum()) == 16
    if family == "qwen2_vl":  # a 224 x 224 image: 16 x 16 patches, merged 2 x 2
        assert int((kwargs["input_ids"] == 299).sum()) == 64 and kwargs["image_grid_thw"].tolist() == [[1, 16, 16]]
    if family in ("t5", "whisper"):
        assert "decoder_input_ids" in kwargs


def test_an_input_by_name_keeps_the_other_defaults(tmp_path):
    # --input decoder_input_ids=1x7:int64 sets the decoder's input; the encoder's stays the default
    folder = tmp_path / "t5"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY["t5"]))
    p = _cli("profile", f"hf:{folder}", "--input", "decoder_input_ids=1x7:int64", "--format", "json", "--units", "raw")
    assert p.returncode == 0, p.stderr
    model, _, kwargs = fxcost.load(f"hf:{folder}")
    expected = fxcost.profile(model, (), {**kwargs, "decoder_input_ids": torch.zeros(1, 7, dtype=torch.long)})
    default = fxcost.profile(model, (), kwargs)
    assert json.loads(p.stdout)["total"]["macs"] == expected.total.macs != default.total.macs


REMOTE_CONFIG = """
from transformers import PretrainedConfig

class MyConfig(PretrainedConfig):
    model_type = "my_arch"

    def __init__(self, width=16, **kw):
        self.width = width
        super().__init__(**kw)
"""
REMOTE_MODEL = """
import torch
from transformers import PreTrainedModel
from .configuration_my import MyConfig

class MyModel(PreTrainedModel):
    config_class = MyConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = torch.nn.Embedding(100, config.width)
        self.proj = torch.nn.Linear(config.width, config.width)
        self.post_init()

    def forward(self, input_ids):
        return self.proj(self.embed(input_ids))
"""


def test_a_repository_s_own_code_runs_with_trust_remote_code_only(tmp_path):
    folder = tmp_path / "my"
    folder.mkdir()
    (folder / "configuration_my.py").write_text(REMOTE_CONFIG)
    (folder / "modeling_my.py").write_text(REMOTE_MODEL)
    auto_map = {"AutoConfig": "configuration_my.MyConfig", "AutoModel": "modeling_my.MyModel"}
    (folder / "config.json").write_text(
        json.dumps({"model_type": "my_arch", "width": 16, "architectures": ["MyModel"], "auto_map": auto_map})
    )
    p = _cli("profile", f"hf:{folder}")
    assert p.returncode == 2 and "--trust-remote-code" in p.stderr
    p = _cli("profile", f"hf:{folder}", "--trust-remote-code", "--format", "json", "--units", "raw")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["model"] == "MyModel" and report["total"]["macs"] == 128 * 16 * 16  # 128 tokens, 16 x 16
