"""The `.strat` language front-end: text → syntax tree → checked model, plus diagnostics and
the formatter. Never imports Numba or pandas: `stratmap check` must start fast."""
