"""Elementwise arithmetic and math, with broadcasting: FLOPs per element of the output.

Integer and boolean tensors (index maths, masks) count zero: they are not floating-point work.
"""

from __future__ import annotations

import operator

import torch

from .registry import method_names
from ._common import attrs, broadcast, per_element, torch_forms

# add, sub and mul keep their operands' promoted dtype (division and comparisons do not): their
# out-of-place forms have a shape rule; in-place forms run their kernel
_ARITHMETIC = ("add", "sub", "subtract", "rsub", "mul", "multiply")
per_element(
    "elementwise",
    1,
    operator.add, operator.sub, operator.mul, *attrs(torch, *_ARITHMETIC), *_ARITHMETIC,
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
    shape=broadcast, why="add, subtract or multiply, broadcast",
)
_BINARY = ("div", "divide", "true_divide", "floor_divide", "remainder", "fmod", "pow", "float_power",
           "maximum", "minimum", "fmax", "fmin", "atan2", "arctan2", "hypot", "xlogy", "copysign", "eq", "ne", "lt",
           "le", "gt", "ge", "greater", "less", "greater_equal", "less_equal", "not_equal", "isclose")
_OPERATORS = (operator.truediv, operator.floordiv, operator.mod, operator.pow, operator.iadd,
              operator.isub, operator.imul, operator.itruediv, operator.ifloordiv, operator.ipow,
              operator.neg, operator.pos, operator.eq, operator.ne, operator.lt, operator.le, operator.gt,
              operator.ge)
per_element(
    "elementwise",
    1,
    *_OPERATORS,
    *torch_forms(*_BINARY),
    *attrs(torch, *(n + "_" for n in _ARITHMETIC)), *(n + "_" for n in _ARITHMETIC),
    "__iadd__", "__isub__", "__imul__",
    *method_names("truediv", "floordiv", "mod", "neg", "pos", "eq", "ne", "lt", "le", "gt", "ge",
                  "div", "pow", inplace=False, dunder=True),
    "__abs__", "__invert__", why="divide, power, min/max or compare, broadcast",
)

_UNARY = ("neg", "negative", "abs", "absolute", "exp", "exp2", "expm1", "log", "log2", "log10",
          "log1p", "sqrt", "rsqrt", "reciprocal", "square", "sin", "cos", "tan", "asin", "acos",
          "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh",
          "arccosh", "arctanh", "erf", "erfc", "erfinv", "sign",
          "sgn", "floor", "ceil", "round", "trunc", "frac", "clamp_min", "clamp_max", "nan_to_num",
          "logit", "sinc", "deg2rad", "rad2deg", "i0", "lgamma", "digamma", "isnan", "isinf",
          "isfinite", "signbit", "logical_not", "bitwise_not", "fix")
per_element("unary", 1, *torch_forms(*_UNARY), *attrs(torch.special, "erf", "erfc", "expm1",
            "exp2", "log1p", "i0", "logit", "erfinv", "sinc"), why="one math function, each counted as one FLOP")
per_element("diff", 1, *torch_forms("diff"), why="a subtract per output element")
per_element("clamp", 2, *torch_forms("clamp", "clip"), why="a compare against each bound")
per_element("lerp", 3, *torch_forms("lerp"), why="start + w * (end - start)")
per_element("addcmul", 3, *torch_forms("addcmul", "addcdiv"), why="x + v * (a op b)")
per_element("logical", 1, *torch_forms("logical_and", "logical_or", "logical_xor", "bitwise_and",
            "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"), *method_names("lshift", "rshift",
                                                                                        inplace=False, dunder=True),
            *method_names("and", "or", "xor", inplace=False,
            dunder=True), operator.and_, operator.or_, operator.xor, operator.invert,
            why="one logic op; booleans and integers: zero")
# Selection ops move data but do no arithmetic.
per_element("select", 0, *torch_forms("where", "masked_fill", "masked_scatter"), why="a selection moves data only")

# Special functions: each evaluation counted as one FLOP, as the math functions above (their
# series and recurrences are library internals; the polynomials' degree n is a tensor of values).
_SPECIAL = ("airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t",
            "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w", "digamma", "entr",
            "erfcx", "expit", "gammainc", "gammaincc", "gammaln", "hermite_polynomial_h", "hermite_polynomial_he",
            "i0e", "i1", "i1e", "laguerre_polynomial_l", "legendre_polynomial_p", "log_ndtr",
            "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1", "ndtr",
            "ndtri", "polygamma", "psi", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
            "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
            "shifted_chebyshev_polynomial_w", "spherical_bessel_j0", "xlog1py", "xlogy", "zeta")
per_element("special", 1, *attrs(torch.special, *_SPECIAL),
            *torch_forms("polygamma", "igamma", "igammac", "xlog1py", "special_zeta", "nextafter", "heaviside",
                         "angle", "frexp", "ldexp", "gcd", "lcm", "isreal", "isposinf", "isneginf",
                         "conj_physical", "hash_tensor"),
            why="one function, compare or scale per output element (special functions, angle, ldexp)")
per_element("mvlgamma", 2, *torch_forms("mvlgamma"), *attrs(torch.special, "multigammaln"),
            why="p lgammas and p adds per element, counted per output element as 2 (p is small)")
per_element("logaddexp", 4, *torch_forms("logaddexp", "logaddexp2"),
            why="max, subtract, exp and log1p-add: log(eᵃ + eᵇ) computed stably")
per_element("polar", 4, *torch_forms("polar"), why="abs·cos and abs·sin: two functions, two multiplies")
per_element("cross", 3, *torch_forms("cross"), *attrs(torch.linalg, "cross"),
            why="a component of a×b: two multiplies and a subtract")
per_element("renorm", 3, *torch_forms("renorm"), why="the slice's norm (square, add) and a scale")
per_element("trapezoid", 3, *torch_forms("trapezoid", "trapz", "cumulative_trapezoid"),
            why="(yᵢ + yᵢ₊₁)·Δx/2 summed: an add, a multiply and an accumulate per element")
per_element("gradient", 2, *torch_forms("gradient"), why="a central difference: a subtract and a divide per output")
per_element("isin", 1, *torch_forms("isin"), why="a hash probe or compare per element of the input")
