"""Analyses over runs: variants compared (``compare``), expectations tested (``expectations``),
personas traced through the decisions (``personas``, judged in ``persona_results``), live-test
sizing (``sizing_report``)."""
