"""Rules: what each op costs. What a rule sees (call: ``OpCall``, ``Entry``), the registry
(targets to rules), where a named argument sits in each callee's signature (signatures), which
torch-level rule an aten op takes (aten_names), and one module per op family (linear, conv,
attention, ..., loaded by builtins). A rule is a short pure function of shapes, dtypes,
attributes and arguments.

May import: ``fxcost.core``."""
