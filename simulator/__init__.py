"""Monte Carlo simulator (Numba kernels over compiled strategy tables).

Not built yet: see the simulator issue. The package exists so the layout shows the pipeline.
"""
