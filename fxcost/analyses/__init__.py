"""Analyses: the entry points. ``profile`` (profile), torchinfo's summary (summary), cost as a
formula of input sizes (formula, its symbolic runs in derive), generation (generation), will it
fit: memory by dtype, setup and device (fit), one rank of a parallel plan (parallel, plans),
compile pipelines (compile: annotate, backend, Inductor pass), latency (timing).

May import: every layer below (core, rules, pipeline, reports); a model is captured only
through ``fxcost.pipeline.run``."""
