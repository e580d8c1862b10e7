"""The command line: ``fxcost`` (main, commands), the GitHub Action (ci), the rules
table (docs), model targets such as ``torchvision:resnet50`` (targets), the built-in example.

May import: every layer below, and ``fxcost`` itself."""
