"""The built-in example model: a small hybrid CNN + transformer that uses module, functional,
method and operator forms of ops, so its table shows what fxcost counts that hooks miss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return (self.bn2(self.conv2(y)) + x).relu()


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # missed by hook-based counters
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class ExampleNet(nn.Module):
    """Conv stem, two residual blocks, one attention layer, a classifier."""

    def __init__(self, c: int = 64, heads: int = 4, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 7, stride=4, padding=3), nn.BatchNorm2d(c), nn.ReLU())
        self.blocks = nn.Sequential(Block(c), Block(c))
        self.norm = nn.LayerNorm(c)
        self.attn = Attention(c, heads)
        self.head = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        t = x.flatten(2).transpose(1, 2)
        t = t + self.attn(self.norm(t))
        return self.head(t.mean(1)).softmax(-1)


def example() -> tuple[nn.Module, tuple[torch.Tensor]]:
    """The example model (eval mode) and its input, 1x3x224x224."""
    return ExampleNet().eval(), (torch.randn(1, 3, 224, 224),)
