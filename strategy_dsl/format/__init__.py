"""The pieces of `stratmap fmt`; ``strategy_dsl.formatter`` is the public entry point.

``lines`` turns one syntax node into the text of one line (or of one header); ``printer`` lays
those lines out with indentation, blank lines, alignment and the file's comments.
"""
