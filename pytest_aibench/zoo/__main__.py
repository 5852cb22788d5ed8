"""``python -m pytest_aibench.zoo build|list|lock|cards``: the maintainers' zoo tools (pytest_aibench.builder)."""

import sys

from pytest_aibench.builder import main

if __name__ == "__main__":
    sys.exit(main())
