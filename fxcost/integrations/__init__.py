"""Integrations: fxcost where people train. ``fxcost.integrations.hf.FxcostCallback`` (the
transformers Trainer) and ``fxcost.integrations.lightning.measure_flops`` (Lightning's
``ThroughputMonitor``). Each is imported on its own and needs its library (``fxcost[hf]``,
``fxcost[lightning]``); ``import fxcost`` imports neither.

May import: every layer below (analyses and down), and the trainer libraries. Not the cli."""
