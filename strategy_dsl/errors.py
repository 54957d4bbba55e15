"""The one shape of an error a person reads: what went wrong (``message``) and, when there is
one, how to fix it (``hint``).

Every layer's errors are this: a variant that cannot be applied (``VariantError``), a strategy
the compiler cannot lower (``CompileError``), a size or a run the simulator refuses
(``SizeError``, ``SimulationError``), personas and expectations that cannot be measured,
planning inputs (``PlanningError``), results a report cannot read, and the command line's own
(``stratmap.errors.CommandError``). The command line renders any of them the same way
(``stratmap.errors``): ``stratmap CMD: error: MESSAGE`` and ``help: HINT`` on the next line.
It lives here, in the lowest layer, so that every layer can raise it without importing upwards.
"""

from __future__ import annotations

__all__ = ["StratmapError"]


class StratmapError(Exception):
    """An error for a person: ``message`` says what is wrong, ``hint`` what to change (empty
    when there is nothing to suggest). ``str()`` is the message alone."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
