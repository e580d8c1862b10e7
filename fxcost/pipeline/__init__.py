"""Layer 2, pipeline: from a model and its inputs to one cost record per node. Capture (the
``symbolic_trace`` path in symbolic, the recording path in capture, the choice between them in
trace; training steps at the aten level in step; export programs in programs), shapes on meta
tensors (shapes), storage lifetimes (memory), and the interpreter that applies each node's rule
(interpret).

May import: ``fxcost.core``, ``fxcost.rules``."""
