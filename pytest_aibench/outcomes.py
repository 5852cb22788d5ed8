"""How an item ends when it cannot be measured: one message, no traceback."""

from __future__ import annotations

from typing import NoReturn

import pytest


def fail(message: str) -> NoReturn:
    """Fail the item with ``message`` alone: no traceback and no "during handling" chain."""
    raise pytest.fail.Exception(message, pytrace=False) from None
