"""The magnitude suffixes a number may carry, in a strategy file and on the command line.

``5万`` is 50,000 and ``1.5亿`` 150,000,000 (the bank's own units, 10⁴ and 10⁸), ``2k`` is 2,000
and ``1.5m`` 1,500,000. Letters are read in either case (``2K``). This is the one home of the
table; the parser, ``--customers``/``--seed`` and ``--fail-on`` all read it.
"""

from __future__ import annotations

MAGNITUDES: dict[str, int] = {"k": 1_000, "m": 1_000_000, "万": 10_000, "亿": 100_000_000}
# The suffixes as a regular-expression alternative, for patterns that read a number with one
# (match case-insensitively, or lower the text first).
MAGNITUDE_PATTERN = "|".join(MAGNITUDES)


def magnitude(suffix: str) -> int | None:
    """The factor ``suffix`` stands for (``"万"`` → 10,000, ``"K"`` → 1,000); ``None`` when it is
    not a magnitude suffix. The empty suffix is 1."""
    if suffix == "":
        return 1
    return MAGNITUDES.get(suffix.lower())
