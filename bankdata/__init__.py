"""The bank's own data: its tables read and strictly validated, in formats Stratmap documents.

`tables` reads a bank's Parquet/CSV/Excel tables under its own column names (the `--map`
mapping) and refuses anything it cannot use, naming file, column and rows. `stratmap calibrate`
reads through it; the customer snapshot (`snapshot`: `decide`, `simulate --from`), the contact
list (`contact_list`) and the outcomes of a live test (`review`) are formats of this package
too. This layer sits above the simulator: `snapshot_state` builds the engine's state arrays
from a snapshot (and `snapshot_writer` a snapshot from a simulated book), `decide` runs one
decision step on them. The kernels never see a bank's table, only arrays built from one.
`synthetic` and `simulated_outcomes` make live tests whose truth is known, for the docs and
tests of `review` (docs/loop.md).
"""
