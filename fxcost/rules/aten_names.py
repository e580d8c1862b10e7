"""Rules: how an aten op, or a torch builtin named as one, finds the torch-level op whose rule
costs it (``Registry.function_entry``): ``aten.NAME`` takes the rule of ``NAME`` unless this
table names another, and ``torch.native_layer_norm`` (C++, no rule of its own) is costed as its
aten op ``aten.native_layer_norm``, so ``layer_norm``'s."""

from __future__ import annotations

from typing import Any

import torch

#: aten ops whose torch-level op has another name. Every other aten op ``aten.NAME`` takes the
#: rule of the tensor method ``NAME``, or of ``torch.NAME`` / ``torch.nn.functional.NAME``.
ATEN_NAMES = {
    "_softmax": "softmax",
    "_safe_softmax": "softmax",
    "_log_softmax": "log_softmax",
    "native_layer_norm": "layer_norm",
    "native_group_norm": "group_norm",
    "native_batch_norm": "batch_norm",
    "_native_batch_norm_legit": "batch_norm",
    "_native_batch_norm_legit_no_training": "batch_norm",
    "_native_batch_norm_legit_functional": "batch_norm",
    "batch_norm_with_update": "batch_norm",
    "_batch_norm_with_update": "batch_norm",
    "_batch_norm_no_update": "batch_norm",
    "_to_copy": "to",
    "_unsafe_view": "view",
    "slice": "narrow",
    "alias": "view",
    "lift_fresh_copy": "clone",
    "lift_fresh": "detach",
    "scalar_tensor": "zeros",
    "_adaptive_avg_pool2d": "adaptive_avg_pool2d",
    "_adaptive_avg_pool3d": "adaptive_avg_pool3d",
    "max_pool2d_with_indices": "max_pool2d",
    "max_pool3d_with_indices": "max_pool3d",
    "_fused_rms_norm": "rms_norm",
    "sym_size": "size",
    "sym_numel": "numel",
    "sym_stride": "stride",
    "sym_storage_offset": "storage_offset",
    "cross_entropy_loss": "cross_entropy",
    "nll_loss_forward": "nll_loss",
    "nll_loss2d_forward": "nll_loss",
    "_unsafe_index": "index",
    "_unsafe_index_put": "index_put",
    "index_put_": "index_put",
    "_reshape_alias": "view",
    "_assert_scalar": "_assert",
    "sym_constrain_range_for_size": "_assert",
    "_assert_async": "_assert",
    "native_dropout": "dropout",
    "linalg_vector_norm": "vector_norm",
    "numpy_T": "t",
    "empty_permuted": "empty",
    "unsafe_split": "split",
    "unsafe_chunk": "chunk",
    "unsafe_split_with_sizes": "split_with_sizes",
    "upsample_nearest2d": "interpolate",
    "upsample_bilinear2d": "interpolate",
    "upsample_bicubic2d": "interpolate",
    "upsample_nearest1d": "interpolate",
    "upsample_linear1d": "interpolate",
    "upsample_nearest3d": "interpolate",
    "upsample_trilinear3d": "interpolate",
    "_upsample_nearest_exact2d": "interpolate",
    "_upsample_bilinear2d_aa": "interpolate",
    "_upsample_bicubic2d_aa": "interpolate",
    "_upsample_nearest_exact1d": "interpolate",
    "_upsample_nearest_exact3d": "interpolate",
    "grid_sampler_2d": "grid_sample",
    "grid_sampler_3d": "grid_sample",
    "grid_sampler": "grid_sample",
    "special_zeta": "zeta",
    "_linalg_svd": "linalg_svd",
    "_linalg_solve_ex": "linalg_solve_ex",
    "_linalg_slogdet": "linalg_slogdet",
    "_linalg_eigh": "linalg_eigh",
    "_linalg_det": "linalg_det",
    "log_sigmoid_forward": "logsigmoid",
    "_prelu_kernel": "prelu",
    "_embedding_bag": "embedding_bag",
    "_embedding_bag_forward_only": "embedding_bag",
    "_efficientzerotensor": "zeros",
    "_conj_physical": "conj_physical",
    "rrelu_with_noise": "rrelu",
    "rrelu_with_noise_functional": "rrelu",
    "_cdist_forward": "cdist",
    "_pdist_forward": "pdist",
    "reflection_pad1d": "pad",
    "reflection_pad2d": "pad",
    "reflection_pad3d": "pad",
    "replication_pad1d": "pad",
    "replication_pad2d": "pad",
    "replication_pad3d": "pad",
    "_pad_circular": "pad",
    "_pad_enum": "pad",
}


BUILTIN_OWNERS = tuple(getattr(torch._C, name) for name in ("_nn", "_linalg", "_fft", "_special"))


def torch_builtin(fn: Any) -> bool:
    """A torch function implemented in C++ (``torch.native_layer_norm``, ``torch.linalg.solve``
    is ``torch._C._linalg.linalg_solve``): named as its aten op, whose rule it takes."""
    if type(fn) is not type(torch.mv):
        return False
    owner = getattr(fn, "__self__", None)
    return owner in BUILTIN_OWNERS or (owner is None and getattr(torch._C._VariableFunctions, fn.__name__, None) is fn)
