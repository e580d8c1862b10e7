"""Core: the vocabulary every other layer speaks, and the checks every entry point makes
first. ``Cost`` and ``NodeRecord`` (cost), ``FxcostError`` and its kin (errors), the frozen
``Options`` (options), nested values (walk), target names and module paths (naming), the user's
model kept as it was (guards), the model and input checks and refusals (inputs), the version.

May import: torch and the standard library only; nothing else of fxcost."""
