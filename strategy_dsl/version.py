"""Stratmap's version: one home below every layer that writes it into a file (SARIF reports,
simulation results, the CLI's --version), so that none of them imports the CLI package for it.
The build reads it too (pyproject.toml, ``[tool.setuptools.dynamic]``)."""

__version__ = "0.1.0"
