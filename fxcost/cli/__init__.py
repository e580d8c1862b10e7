"""The command line: ``fxcost`` (main, commands), the GitHub Action (ci), the rules table
(docs), the built-in example. Models by name, their inputs and zoo sweeps are the zoo's
(``fxcost.zoo``); nothing but ``__main__`` and the console script imports this package.

May import: every layer below (the zoo included), and ``fxcost`` itself."""
