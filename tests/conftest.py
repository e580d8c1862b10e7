"""Test set-up: torchvision (and timm/transformers, which import it) through fxcost's tolerant
importer, since the registry's torchvision is built for CUDA torch."""

import pytest

from fxcost.zoo.targets import import_torchvision

try:
    import_torchvision()
except ImportError:  # torchvision not installed: zoo tests skip themselves
    pass


@pytest.fixture(autouse=True)
def _fresh_grad_mode():
    import torch

    before = torch.is_grad_enabled()
    yield
    assert torch.is_grad_enabled() == before, "a call changed the global grad mode"
