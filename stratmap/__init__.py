"""Stratmap: a retail bank's customer-operations strategy map as checked, forecastable text."""

__version__ = "0.1.0"
