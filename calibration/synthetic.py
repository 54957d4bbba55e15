"""A synthetic bank whose true parameters are known: the runnable example and recovery test.

`python -m calibration.synthetic DIR` writes customers.csv, transactions.csv, balances.csv and
contacts.csv into DIR and prints the true parameters; `stratmap calibrate` on them must recover
each within its interval (tests/test_calibration_recovery.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["AS_OF", "TRUTH", "synthetic_bank", "write_large_bank", "write_synthetic_bank"]

AS_OF = pd.Timestamp("2026-06-30")
TRUTH = {
    "churn_alpha": 0.9,  # each customer's monthly churn chance ~ Beta(0.9, 9): mean 9.1 %
    "churn_beta": 9.0,
    "txn_r": 2.0,  # each customer's transactions per month ~ Gamma(2, 0.5): mean 4
    "txn_alpha": 0.5,
    "aum_median": 50_000.0,
    "aum_sigma": 1.2,
    "age_mean": 45.0,
    "flow_mean": 0.005,  # AUM grows 0.5 % a month on average, sd 3 %
    "flow_sd": 0.03,
    "response": {"理财到期提醒": 0.06, "基金定投": 0.02},
}


def synthetic_bank(customers: int = 4000, seed: int = 17) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:06d}" for i in range(customers)])
    opened = AS_OF - pd.to_timedelta(rng.integers(1, 36 * 30, customers), unit="D")
    hazard = rng.beta(TRUTH["churn_alpha"], TRUTH["churn_beta"], customers)
    # The month of tenure in which each customer would close; a hazard near 0 draws months
    # past any date pandas can hold, and every month past 1,000 lies beyond AS_OF anyway.
    month = np.minimum(rng.geometric(hazard), 1000)
    closed = opened + pd.to_timedelta((month - 1) * 30 + rng.integers(0, 30, customers), unit="D")
    closed = pd.Series(closed).where(closed <= AS_OF)
    table = pd.DataFrame(
        {
            "customer_id": ids,
            "opened": opened.date,
            "closed": closed.dt.date,
            "aum": np.round(
                TRUTH["aum_median"] * np.exp(TRUTH["aum_sigma"] * rng.standard_normal(customers)), 2
            ),
            "age": np.clip(np.round(rng.normal(TRUTH["age_mean"], 10, customers)), 18, 90),
        }
    )

    # Transactions over the last 12 months, while each customer is open.
    start = AS_OF - pd.Timedelta(days=360)
    end = closed.fillna(AS_OF).to_numpy()
    begin = np.maximum(opened.to_numpy(), start.to_datetime64())
    days = np.clip((end - begin) / np.timedelta64(1, "D"), 0, None)
    rate = rng.gamma(TRUTH["txn_r"], 1 / TRUTH["txn_alpha"], customers)
    counts = rng.poisson(rate * days / 30)
    who = np.repeat(np.arange(customers), counts)
    offset = rng.uniform(0, 1, len(who)) * days[who]
    transactions = pd.DataFrame(
        {
            "customer_id": ids[who],
            "date": (begin[who] + pd.to_timedelta(offset, unit="D")).date,
            "amount": np.round(rng.lognormal(6, 1, len(who)), 2),
        }
    )

    # A 12-month balance panel of the customers open today.
    still = np.flatnonzero(closed.isna().to_numpy())
    months = pd.period_range(end=AS_OF.to_period("M"), periods=12, freq="M")
    growth = 1 + rng.normal(TRUTH["flow_mean"], TRUTH["flow_sd"], (len(still), len(months) - 1))
    path = table["aum"].to_numpy()[still, None] * np.cumprod(np.c_[np.ones(len(still)), growth], 1)
    path = path / path[:, -1:] * table["aum"].to_numpy()[still, None]  # ends at today's AUM
    balances = pd.DataFrame(
        {
            "customer_id": np.repeat(ids[still], len(months)),
            "month": np.tile(months.strftime("%Y-%m-01"), len(still)),
            "aum": np.round(path.ravel(), 2),
        }
    )

    plays = list(TRUTH["response"])
    n_contacts = 6000
    play = rng.choice(plays, n_contacts)
    contacts = pd.DataFrame(
        {
            "customer_id": rng.choice(ids[still], n_contacts),
            "date": (AS_OF - pd.to_timedelta(rng.integers(0, 180, n_contacts), unit="D")).date,
            "play": play,
            "channel": np.where(play == plays[0], "外呼", "APP推送"),
            "responded": (rng.uniform(size=n_contacts) < pd.Series(play).map(TRUTH["response"]))
            .astype(int)
            .to_numpy(),
        }
    )
    return {
        "customers": table,
        "transactions": transactions,
        "balances": balances,
        "contacts": contacts,
    }


def write_synthetic_bank(directory: Path, customers: int = 4000, seed: int = 17) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in synthetic_bank(customers, seed).items():
        frame.to_csv(directory / f"{name}.csv", index=False)


MONTHS = 24  # the large bank's balances per customer
TXN_PER_CUSTOMER = 30  # and its transactions per customer, on average
AS_OF_DAY = AS_OF.to_datetime64().astype("datetime64[D]")


def write_large_bank(folder: Path, customers: int, seed: int = 17) -> dict[str, Path]:
    """customers.parquet, balances.parquet and transactions.parquet of a large synthetic book,
    as a warehouse exports it (ids as text, dates as DATE), for the benchmark
    (bench/bench_calibrate.py) and the AUM back-test:
    openings over three years, churn ~ Beta(0.9, 9) a month, 24 month-end balances each
    (closed customers' last balances 0), TXN_PER_CUSTOMER transactions a customer on average
    over the last two years (Gamma-mixed rates)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    ids = pa.array(np.char.add("C", np.char.zfill(np.arange(customers).astype(str), 8)))
    opened = AS_OF_DAY - rng.integers(1, 36 * 30, customers).astype("timedelta64[D]")
    month = np.minimum(rng.geometric(rng.beta(0.9, 9.0, customers)), 1000)
    closed = opened + ((month - 1) * 30 + rng.integers(0, 30, customers)).astype("timedelta64[D]")
    is_closed = closed <= AS_OF_DAY
    aum = np.round(50_000 * np.exp(1.2 * rng.standard_normal(customers)), 2)
    age = np.clip(np.round(rng.normal(45, 10, customers)), 18, 90)
    paths = {name: folder / f"{name}.parquet" for name in ("customers", "balances", "transactions")}
    pq.write_table(
        pa.table(
            {
                "customer_id": ids,
                "opened": pa.array(opened, pa.date32()),
                "closed": pa.array(closed, pa.date32(), mask=~is_closed),
                "aum": aum,
                "age": age,
            }
        ),
        paths["customers"],
    )

    # A month-end balance panel (each month's row: the balance on its last day): 24 months to
    # the as-of month, each customer's path a random
    # walk of 0.5 % ± 3 % a month ending at today's AUM.
    firsts = np.arange(
        np.datetime64("2026-06", "M") - MONTHS + 1, np.datetime64("2026-07", "M")
    ).astype("datetime64[D]")
    growth = rng.normal(0.005, 0.03, (customers, MONTHS)).astype(np.float32)
    growth[:, -1] = 0.0
    log_path = np.cumsum(np.log1p(growth[:, ::-1]), axis=1)[:, ::-1]
    balance = np.round(aum[:, None] / np.exp(log_path), 2)
    del growth, log_path
    month_end = (firsts.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
    balance[month_end[None, :] >= closed[:, None]] = 0.0  # month-end: closed in it, 0 at its end
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.DictionaryArray.from_arrays(
                    np.repeat(np.arange(customers, dtype=np.int32), MONTHS), ids
                ).cast(pa.string()),
                "month": pa.array(np.tile(firsts, customers), pa.date32()),
                "aum": balance.ravel(),
            }
        ),
        paths["balances"],
        row_group_size=4_000_000,
    )
    del balance

    # Transactions over the last 24 months, while each customer is open.
    start = AS_OF_DAY - 720
    begin = np.maximum(opened, start)
    end = np.where(is_closed, closed, AS_OF_DAY)
    days = np.clip((end - begin).astype(float), 0, None)
    rate = rng.gamma(2.0, 1.0, customers)
    weight = rate * days
    counts = rng.poisson(weight * (TXN_PER_CUSTOMER * customers / weight.sum()))
    who = np.repeat(np.arange(customers, dtype=np.int32), counts)
    offset = (rng.random(who.size, dtype=np.float32) * days[who]).astype("timedelta64[D]")
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.DictionaryArray.from_arrays(who, ids).cast(pa.string()),
                "date": pa.array(begin[who] + offset, pa.date32()),
                "amount": np.round(rng.lognormal(6, 1, who.size), 2),
            }
        ),
        paths["transactions"],
        row_group_size=4_000_000,
    )
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "synthetic_bank")
    write_synthetic_bank(target)
    print(f"wrote {target}/customers.csv, transactions.csv, balances.csv, contacts.csv")
    print(json.dumps(TRUTH, ensure_ascii=False, indent=2))
