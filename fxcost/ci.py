"""``python -m fxcost.ci``: the GitHub Action's step (``fxcost.cli.ci``), kept at this path for
workflows that call it."""

import sys

from .cli.ci import main

if __name__ == "__main__":
    sys.exit(main())
