"""Zoo: models by name and their inputs. Targets such as ``torchvision:resnet50``, ``timm:vit_*``,
``hf:llama`` or ``file.py:factory`` built from configs (targets), their default inputs and inputs
from shape specs such as ``1x3x224x224`` (inputs, one dtype cast), whole-zoo sweeps in worker
processes (sweep) and the sweep's fork-server preload (preload). Functions of plain values: the
command line and ``fxcost.sweep`` both call them.

May import: every layer below (core, rules, pipeline, reports, analyses), and ``fxcost`` itself."""
