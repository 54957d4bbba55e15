"""Stratmap: a retail bank's customer-operations strategy map as checked, forecastable text."""

from strategy_dsl.version import __version__

__all__ = ["__version__"]
