"""Ops that do no arithmetic: views, copies, indexing, tensor creation, dropout, embedding.

They are registered (zero FLOPs, zero MACs) so that they are known, never reported as
unsupported. Views (outputs alias inputs) also move no bytes; copies do.
"""

from __future__ import annotations

import builtins
import operator

import torch
import torch.nn.functional as F
from torch import nn

from .registry import method_names
from ._common import attrs, like_input, per_element, torch_forms

_VIEWS = ("view", "view_as", "reshape", "reshape_as", "permute", "transpose", "swapaxes",
          "swapdims", "t", "adjoint", "flatten", "unflatten", "unsqueeze", "squeeze", "expand",
          "expand_as", "narrow", "select", "unbind", "split", "split_with_sizes", "tensor_split",
          "chunk", "movedim", "moveaxis", "diagonal", "as_strided", "detach", "alias",
          "view_as_real", "view_as_complex", "real", "imag", "unfold", "hsplit", "vsplit",
          "dsplit", "atleast_1d", "atleast_2d", "atleast_3d", "broadcast_to", "requires_grad_",
          "size", "dim", "numel", "stride", "storage_offset", "data_ptr", "is_contiguous",
          "element_size", "nelement", "ndimension", "type_as_", "get_device", "is_floating_point",
          # conj and _neg_view set a bit of the tensor's metadata (resolve_conj copies later)
          "conj", "_conj", "_neg_view", "positive")
per_element(
    "view", 0, *torch_forms(*_VIEWS), operator.getitem, "__getitem__", builtins.getattr,
    nn.Identity, nn.Flatten, nn.Unflatten, *attrs(torch.linalg, "diagonal"),
    "contiguous", moves_data=False, why="a view: no arithmetic, no bytes",
)

# Checks: symbolic_trace keeps torch._assert (fx wraps it) as a call, ep.module() calls its input
# guards (GuardsFn: registered by ``late`` once torch.export._unlift is loaded); they compute nothing.
check = per_element("check", 0, *attrs(torch, "_assert", "_assert_async", "_assert_tensor_metadata"),
                    *attrs(torch.fx._symbolic_trace, "_assert_is_none"),
                    moves_data=False, why="assertions and guards compute nothing")

# Dropout is the identity at inference and counts zero FLOPs; it moves no data then.
per_element(
    "dropout", 0, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    *torch_forms("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                 "feature_alpha_dropout", "feature_dropout"),
    moves_data=False, shape=like_input, why="the identity at inference",
)

_COPIES = ("cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack",
           "repeat", "repeat_interleave", "tile", "roll", "flip", "fliplr", "flipud", "rot90",
           "clone", "copy", "to", "type", "type_as", "float", "double", "half", "bfloat16", "int",
           "long", "short", "bool", "byte", "char", "cpu", "cuda", "pin_memory", "index_select",
           "index", "gather", "slice_scatter", "select_scatter", "diagonal_scatter", "as_strided_scatter",
           "take", "take_along_dim", "masked_select", "nonzero", "argwhere", "scatter",
           "index_copy", "index_fill", "fill", "zero", "tril", "triu", "pad",
           "constant_pad_nd", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
           "native_channel_shuffle", "one_hot", "embedding", "embedding_bag", "fold",
           "contiguous_", "bucketize", "searchsorted", "unique", "unique_consecutive", "new_zeros",
           "new_ones", "new_full", "new_empty", "new_tensor", "diag", "diag_embed", "tril_indices",
           "triu_indices", "cartesian_prod", "meshgrid", "block_diag", "clone_", "item", "tolist",
           "grid_sample", "affine_grid")
per_element(
    "copy", 0, *torch_forms(*_COPIES), nn.Embedding, nn.EmbeddingBag, nn.PixelShuffle,
    nn.PixelUnshuffle, nn.ChannelShuffle, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d,
    nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d,
    nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d, *attrs(nn, "CircularPad2d"),
    nn.Fold, nn.Unfold, F.unfold, F.fold, *attrs(torch.ops.aten, "im2col", "col2im"), "__setitem__", "copy_",
    "masked_fill_", *torch_forms("diagflat", "ravel", "resize_as", "chalf", "cfloat", "cdouble", "complex",
                                 "resolve_neg", "resolve_conj", "broadcast_tensors", "unravel_index",
                                 "nonzero_static", "_chunk_cat", "_unsafe_masked_index", "max_unpool1d",
                                 "max_unpool2d", "max_unpool3d", "fftshift", "ifftshift", "resize", "lu_unpack", "combinations", "row_stack",
                                 "to_sparse", "to_dense", "to_sparse_csr", "to_sparse_csc", "to_sparse_bsr",
                                 "to_sparse_bsc"),
    nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d, *attrs(torch.fft, "fftshift", "ifftshift"),
    # the *_copy forms of views (torch.view_copy, torch.t_copy: functionalized graphs)
    *[getattr(torch, n) for n in dir(torch) if n.endswith("_copy") and not n.startswith("_") and n != "index_copy"
      and callable(getattr(torch, n))],
    why="copies, indexing, padding, lookups: bytes only",
)

_FACTORIES = ("zeros", "ones", "full", "empty", "empty_like", "zeros_like", "ones_like",
              "full_like", "rand", "randn", "randint", "rand_like", "randn_like", "randint_like",
              "randperm", "bernoulli", "multinomial", "normal", "arange", "range", "linspace",
              "logspace", "eye", "tensor", "as_tensor", "from_numpy", "scalar_tensor",
              "empty_strided", "uniform", "normal_", "uniform_", "exponential", "geometric",
              "cauchy", "log_normal", "random", "poisson", "binomial", "hann_window", "hamming_window",
              "bartlett_window", "blackman_window", "kaiser_window")
# initializers called inside a forward (big_bird's) fill a tensor in place
_INITS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
          "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")
per_element("create", 0, *torch_forms(*_FACTORIES), *method_names("new_empty_strided"),
            *attrs(nn.init, *_INITS), torch.Tensor, moves_data=True, why="tensor creation: bytes written only")
