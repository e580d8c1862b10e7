"""Pipeline: from a model and its inputs to one cost record per node. ``run`` is its one entry
point (``count``: choose the capture path, capture, cost, sum the memory; ``count_program`` and
``count_graph`` for graphs that exist already). Behind it: the ``symbolic_trace`` path
(symbolic), the recording path (capture), training steps at the aten level (step), export
programs (programs), shapes on meta tensors (shapes) with the memo and shape rules every path
shares (memo), storage lifetimes (memory), and the interpreter that applies each node's rule
(interpret).

May import: ``fxcost.core``, ``fxcost.rules``. Above this layer, models are captured only through
``fxcost.pipeline.run`` (an import-linter contract)."""
