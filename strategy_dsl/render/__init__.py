"""Renderers that turn one list of diagnostics into words or machine formats, one module each.

``text`` (people, with carets and colour), ``json_format`` (scripts), ``junit`` (CI test
reports), ``github`` (pull-request annotations) and ``sarif`` (code scanning). All take the same
``Diagnostic`` values and keep the order they are given in.
"""
