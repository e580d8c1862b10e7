"""Reports: what a count says. ``Report`` (report) and its tables (format), pictures
(plot; matplotlib optional), diffs that gate CI (diff), the roofline and devices' peaks
(roofline, peaks).

May import: ``fxcost.core``, ``fxcost.rules``, ``fxcost.pipeline``."""
