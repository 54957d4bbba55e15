"""The bank's own data: its tables read and strictly validated, in formats Stratmap documents.

`tables` reads a bank's Parquet/CSV/Excel tables under its own column names (the `--map`
mapping) and refuses anything it cannot use, naming file, column and rows. `stratmap calibrate`
reads through it; the customer snapshot (`decide`, `simulate --from`), the contact list and the
outcomes of a live test (`review`) are formats of this package too. The kernels never see a
bank's table, only arrays built from one.
"""
