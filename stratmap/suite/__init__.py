"""`stratmap test`: check, simulate and judge a library of strategy maps, with a result cache.

``command`` parses the options and orchestrates, ``runner`` is the work for one map (simulate,
judge the expectations, run the personas, record coverage; it runs in worker processes),
``cache`` keeps each map's record keyed by everything that decides it, ``report`` renders the
records as text, JSON, GitHub annotations and JUnit XML.
"""
