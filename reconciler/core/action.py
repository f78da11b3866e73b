"""What a plan does to one job (``Action``), the word shared by plans, the recent-writes
journal and the renderers.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a plan does to one job. Listed in the order a plan shows them."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return _ACTION_SYMBOLS[self]


_ACTION_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.NOOP: " ",
}
