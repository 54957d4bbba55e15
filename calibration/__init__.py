"""Calibration: the numbers a strategy map forecasts from, fitted on the bank's own tables.

Reads the customers / transactions / balances / contacts tables (`bankdata.tables`), fits churn,
transaction rates, AUM flows and response rates by maximum likelihood with intervals (`fits`)
and writes them as a `.strat` fragment a map imports (`fragment`). It sits above the DSL and the
simulator and imports neither: the kernels never see it, and `stratmap calibrate` is its only
caller in the CLI. See docs/calibration.md.
"""
