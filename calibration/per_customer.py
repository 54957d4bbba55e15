"""Each customer's own parameters, the posterior given their history under the fitted
population (`stratmap calibrate --per-customer`; docs/calibration.md):

- churn (the sBG, each customer's monthly churn chance θ ~ Beta(a, b)): a customer still open
  after n whole months has θ | survived n ~ Beta(a, b + n), whose mean a / (a + b + n) is their
  `churn_chance`: the longer a customer has stayed, the lower;
- transactions (the NBD, each customer's monthly rate λ ~ Gamma(r, α)): a customer with x
  transactions over T months of exposure has λ | x, T ~ Gamma(r + x, α + T), whose mean
  (r + x) / (α + T) is their `txn_per_month`.

The columns are the snapshot's (docs/snapshot.md): a bank joins the file into its customers
table on `customer_id`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from calibration.book import Calibration

__all__ = ["PER_CUSTOMER_COLUMNS", "per_customer_posteriors"]

PER_CUSTOMER_COLUMNS = ("customer_id", "churn_chance", "txn_per_month")


def per_customer_posteriors(cal: Calibration) -> pd.DataFrame:
    """One row per customer of the book: the posterior mean churn chance (empty for a closed
    customer, or when the sBG was not fitted) and transaction rate (empty when the NBD was not
    fitted, or the customer had no exposure)."""
    data = cal.customer_data
    assert data is not None
    n = len(data)
    churn = np.full(n, np.nan)
    if cal.churn_sbg is not None:
        a = cal.churn_sbg.params["alpha"].value
        b = cal.churn_sbg.params["beta"].value
        still = data["open"].to_numpy()
        churn[still] = a / (a + b + data["months"].to_numpy()[still])
    rate = np.full(n, np.nan)
    if cal.txn_nbd is not None and "transactions" in data:
        r, alpha = cal.txn_nbd.params["r"].value, cal.txn_nbd.params["alpha"].value
        exposure = data["exposure"].to_numpy()
        seen = exposure > 0
        rate[seen] = (r + data["transactions"].to_numpy()[seen]) / (alpha + exposure[seen])
    return pd.DataFrame(
        {
            "customer_id": data["customer_id"].to_numpy(),
            "churn_chance": churn,
            "txn_per_month": rate,
        }
    )
