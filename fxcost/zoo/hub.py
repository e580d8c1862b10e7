"""Zoo: transformers models by name: a Hub id (``ORG/NAME[@REVISION]``), a folder or a
``config.json``, or a model type; built on meta from the configuration alone (never weights), with
every input its forward needs.

A Hub id reads ``config.json`` through ``huggingface_hub``'s cache: offline
(``HF_HUB_OFFLINE=1``) from what the cache holds, online by downloading that one file. The model
is the class the config's ``architectures`` names (``LlamaForCausalLM``,
``LlavaForConditionalGeneration``...), else the Auto class; code from the repository itself
(``auto_map``) runs only with ``trust_remote_code``.

Default inputs, batch 1: ``input_ids`` of 128 tokens for text, ``pixel_values`` at the vision
config's image size, audio features of the length the encoder expects (Whisper's 3000 frames),
``decoder_input_ids`` for encoder-decoders, and for a vision-language model an image with as many
image tokens in ``input_ids`` as its vision tower gives features (counted on meta: its own
``get_image_features``), or Qwen-VL's flattened patches with their ``image_grid_thw``.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

import torch
from torch import nn

from ..core.errors import FxcostError

#: tokens in a default text input
TOKENS = 128


def _transformers() -> Any:
    from .targets import require

    return require("transformers", "hf")


def _is_path(spec: str) -> bool:
    return os.path.exists(spec) or spec.endswith(".json") or spec.startswith((".", "/", "~"))


def config(spec: str, trust_remote_code: bool = False) -> Any:
    """The configuration ``hf:SPEC`` names: a Hub id ``ORG/NAME[@REVISION]``, a folder holding
    ``config.json``, a config file, or a model type (``llama``: transformers' default config)."""
    transformers = _transformers()
    if "/" not in spec and not _is_path(spec):
        try:
            return transformers.AutoConfig.for_model(spec)
        except ValueError as e:
            raise FxcostError(
                f"transformers {transformers.__version__} has no model type '{spec}'. Fix: a Hub id "
                "(hf:ORG/NAME), a folder or config.json (hf:path/to/config.json), or a model type it "
                "knows (hf:llama, hf:qwen3, hf:t5...)."
            ) from e
    if _is_path(spec):
        path = os.path.expanduser(spec)
        folder = path if os.path.isdir(path) else os.path.dirname(path) or "."
        file = os.path.join(path, "config.json") if os.path.isdir(path) else path
        if not os.path.isfile(file):
            raise FxcostError(f"no config file at '{file}'. Fix: pass a folder with config.json, or the file itself.")
        return _from_file(file, folder, trust_remote_code)
    repo, _, revision = spec.partition("@")
    file = _hub_config(repo, revision or None)
    return _from_file(file, repo if trust_remote_code else os.path.dirname(file), trust_remote_code, revision or None)


def _hub_config(repo: str, revision: str | None) -> str:
    """The cached (or, online, downloaded) ``config.json`` of a Hub repository."""
    try:
        import huggingface_hub
        from huggingface_hub import constants, errors
    except ImportError:
        raise FxcostError(
            f"hf:{repo} needs huggingface_hub (it comes with transformers). Fix: pip install huggingface_hub."
        ) from None
    try:
        return huggingface_hub.hf_hub_download(repo, "config.json", revision=revision)
    except errors.LocalEntryNotFoundError as e:
        where = constants.HF_HUB_CACHE
        if constants.is_offline_mode():
            raise FxcostError(
                f"hf:{repo}: its config.json is not in the Hub cache ({where}) and HF_HUB_OFFLINE is set. "
                f"Fix: download it once online (unset HF_HUB_OFFLINE; fxcost fetches config.json alone), or "
                "pass a local copy: hf:path/to/config.json."
            ) from e
        raise FxcostError(
            f"hf:{repo}: config.json could not be downloaded, nor found in the Hub cache ({where}): {e}. "
            "Fix: check the network, or pass a local copy: hf:path/to/config.json."
        ) from e
    except errors.GatedRepoError as e:
        raise FxcostError(
            f"hf:{repo} is gated: its config.json needs an access token. Fix: accept its terms on the Hub "
            "and log in (hf auth login, or HF_TOKEN), or pass a local copy: hf:path/to/config.json."
        ) from e
    except errors.RepositoryNotFoundError as e:
        raise FxcostError(
            f"hf:{repo}: no such repository on the Hub (or it is private). Fix: check the id (ORG/NAME), "
            "or log in for a private one."
        ) from e
    except errors.RevisionNotFoundError as e:
        raise FxcostError(f"hf:{repo}@{revision}: no such revision. Fix: a branch, tag or commit of it.") from e
    except errors.EntryNotFoundError as e:
        raise FxcostError(
            f"hf:{repo} has no config.json (not a transformers model?). Fix: build it yourself and "
            "pass file.py:factory."
        ) from e


def _from_file(file: str, source: str, trust_remote_code: bool, revision: str | None = None) -> Any:
    transformers = _transformers()
    try:
        with open(file) as f:
            raw = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise FxcostError(f"cannot read the config '{file}': {e}. Fix: pass a valid config.json.") from e
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if not model_type:
        raise FxcostError(f"'{file}' has no model_type: not a transformers config. Fix: pass its config.json.")
    known = model_type in transformers.CONFIG_MAPPING
    if raw.get("auto_map") and not known and not trust_remote_code:
        raise FxcostError(
            f"'{model_type}' is defined by code in its repository (auto_map), which fxcost runs only "
            "when told to. Fix: --trust-remote-code (trust_remote_code=True), if you trust that code."
        )
    if not known and not trust_remote_code:
        raise FxcostError(
            f"transformers {transformers.__version__} does not know model type '{model_type}'. Fix: "
            "upgrade transformers (pip install -U transformers torch==" + torch.__version__.split("+")[0] + ")."
        )
    try:
        if trust_remote_code:
            return transformers.AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=True)
        config_class = transformers.CONFIG_MAPPING[model_type]
        return config_class.from_dict({k: v for k, v in raw.items() if k != "model_type"})
    except Exception as e:
        raise FxcostError(f"transformers could not read '{file}': {type(e).__name__}: {e}.") from e


def model(cfg: Any, causal_lm: bool = False, trust_remote_code: bool = False) -> nn.Module:
    """The model of a configuration, on meta, in eval mode: the class its ``architectures``
    names, else ``AutoModel`` (``AutoModelForCausalLM`` with ``causal_lm``: for generation)."""
    transformers = _transformers()
    arch = (getattr(cfg, "architectures", None) or [None])[0]
    cls = getattr(transformers, arch, None) if arch and not trust_remote_code else None
    generates = arch and arch.endswith(("ForCausalLM", "ForConditionalGeneration"))
    if causal_lm and cls is not None and (not generates or getattr(cfg, "is_encoder_decoder", False)):
        cls = None  # generation feeds input_ids alone: a decoder's
    auto = transformers.AutoModelForCausalLM if causal_lm else transformers.AutoModel
    name = arch or getattr(cfg, "model_type", "?")
    with torch.device("meta"):
        try:
            if cls is not None:
                built = cls._from_config(cfg)
            elif trust_remote_code and arch:
                auto = transformers.AutoModelForCausalLM if arch.endswith("ForCausalLM") or causal_lm else auto
                built = auto.from_config(cfg, trust_remote_code=True)
            else:
                built = auto.from_config(cfg)
        except ValueError as e:
            if causal_lm:
                raise FxcostError(
                    f"transformers has no causal language model for '{name}'. "
                    "Fix: --prompt/--new-tokens need a decoder (hf:llama, hf:Qwen/Qwen3-8B...)."
                ) from e
            raise FxcostError(
                f"transformers builds no model from the '{name}' config alone (a part of another "
                "model's config?). Fix: profile the model it belongs to, or build it yourself and "
                "pass file.py:factory."
            ) from e
    return built.eval()


def inputs(m: nn.Module, batch: int = 1, tokens: int = TOKENS) -> dict[str, torch.Tensor]:
    """Every input ``m``'s forward needs, with the shapes and dtypes its config implies."""
    cfg: Any = m.config
    params = inspect.signature(m.forward).parameters
    main = getattr(m, "main_input_name", "input_ids")
    out: dict[str, torch.Tensor] = {}
    if main == "pixel_values":
        out[main] = _pixels(cfg, batch)
    elif main == "input_features":
        out[main] = _audio_features(cfg, batch)
    elif main == "input_values" and hasattr(cfg, "num_mel_bins") and hasattr(cfg, "max_length"):
        out[main] = torch.zeros(batch, cfg.max_length, cfg.num_mel_bins)  # a spectrogram (AST)
    elif main == "input_values":  # raw audio: one second at 16 kHz
        out[main] = torch.zeros(batch, 16000)
    else:
        text = getattr(cfg, "text_config", None) or cfg
        longest = getattr(text, "max_position_embeddings", None) or tokens  # CLIP's text: 77
        out[main] = torch.zeros(batch, min(tokens, longest), dtype=torch.long)
    if "pixel_values" in params and main == "input_ids":
        out.update(_image(m, batch, tokens))
    if getattr(cfg, "is_encoder_decoder", False) and "decoder_input_ids" in params:
        longest = getattr(cfg, "max_target_positions", None) or tokens
        out["decoder_input_ids"] = torch.zeros(batch, min(tokens, longest), dtype=torch.long)
    return out


def _vision(cfg: Any) -> Any:
    return getattr(cfg, "vision_config", None) or cfg


def _size(v: Any) -> int:
    return int(v[0] if isinstance(v, (list, tuple)) else v)


def _pixels(cfg: Any, batch: int) -> torch.Tensor:
    vc = _vision(cfg)
    size = _size(getattr(vc, "image_size", 224))
    channels: int = getattr(vc, "num_channels", None) or getattr(vc, "in_channels", None) or 3
    return torch.zeros(batch, channels, size, size)


def _audio_features(cfg: Any, batch: int) -> torch.Tensor:
    """Whisper: mel bins x twice the encoder's positions (its convolutions halve them: 3000
    frames, 30 s); Speech2Text: frames x features."""
    if hasattr(cfg, "num_mel_bins") and hasattr(cfg, "max_source_positions"):
        return torch.zeros(batch, cfg.num_mel_bins, 2 * cfg.max_source_positions)
    features = getattr(cfg, "input_feat_per_channel", 80) * getattr(cfg, "input_channels", 1)
    return torch.zeros(batch, 584, features)


def _image(m: nn.Module, batch: int, tokens: int) -> dict[str, torch.Tensor]:
    """A vision-language model's image: pixels (with Qwen-VL's ``image_grid_thw``) and
    ``input_ids`` holding as many image tokens as the vision tower gives features, then text."""
    cfg = m.config
    token = getattr(cfg, "image_token_id", None)
    token = getattr(cfg, "image_token_index", None) if token is None else token
    if token is None:  # CLIP and the like: the image is an input of its own, no tokens stand for it
        return {"pixel_values": _pixels(cfg, batch)}
    vc = _vision(cfg)
    if hasattr(vc, "spatial_merge_size") and hasattr(vc, "temporal_patch_size"):  # Qwen2-VL, Qwen2.5-VL
        side = 224 // vc.patch_size  # patches per side of a 224 x 224 image
        channels = getattr(vc, "in_channels", 3)
        patch = channels * vc.temporal_patch_size * vc.patch_size**2
        grid = torch.tensor([[1, side, side]] * batch)
        pixels = torch.zeros(batch * side * side, patch)
        count = side * side // vc.spatial_merge_size**2
        extra = {"image_grid_thw": grid}
    else:
        pixels = _pixels(cfg, 1)
        count = _image_features(m, pixels)
        pixels = pixels.expand(batch, *pixels.shape[1:]).contiguous()
        extra = {}
    ids = torch.zeros(batch, count + tokens, dtype=torch.long)
    ids[:, :count] = token
    if "mm_token_type_ids" in inspect.signature(m.forward).parameters:  # Qwen-VL's M-RoPE: 1 marks an image token
        extra["mm_token_type_ids"] = (ids == token).long()
    return {"input_ids": ids, "pixel_values": pixels, **extra}


def _image_features(m: nn.Module, pixels: torch.Tensor) -> int:
    """The image tokens one image stands for: the rows of its features, by the model's own
    ``get_image_features`` on meta."""
    get = getattr(m, "get_image_features", None) or getattr(getattr(m, "model", None), "get_image_features", None)
    unknown = FxcostError(
        f"{type(m).__name__}: fxcost cannot tell how many image tokens an image stands for. Fix: pass "
        "the inputs yourself: --input input_ids=1x700:int64 --input pixel_values=1x3x336x336 (and what "
        "else its forward needs)."
    )
    if get is None:
        raise unknown
    try:
        with torch.no_grad():
            out = get(pixel_values=pixels.to("meta"))
    except Exception as e:  # it needs more than pixels (image sizes, a grid), or real values
        raise unknown from e
    feats = getattr(out, "pooler_output", None)
    if feats is None:
        feats = out[0] if isinstance(out, (tuple, list)) else getattr(out, "last_hidden_state", out)
    feats = feats if isinstance(feats, (list, tuple)) else [feats]
    return sum(f.numel() // f.shape[-1] for f in feats)
