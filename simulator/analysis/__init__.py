"""Analyses over runs: variants compared (``compare``), expectations tested (``expectations``),
personas traced through the decisions (``personas``), live-test sizing (``sizing_report``)."""
