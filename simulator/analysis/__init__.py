"""Analyses over runs: variants compared (``compare``), expectations tested (``expectations``),
personas traced through the decisions (``personas``, judged in ``persona_results``), live-test
sizing (``sizing_report``), a live test's outcomes held against the map and its forecast
(``review``)."""
