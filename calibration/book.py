"""From the bank's tables to fits, as of a date: what `stratmap calibrate` computes.

How the data is read (docs/calibration.md): a month is 30 days (the language's 30/360 rule);
a customer is at risk from `opened` to `closed` or the as-of date; one who closed in their k-th
month of tenure churned in period k, one still open after k whole months is censored there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from calibration import fits

__all__ = ["Calibration", "calibrate", "churn_periods", "finite_or_null"]

DAYS_PER_MONTH = 30


@dataclass
class Calibration:
    as_of: pd.Timestamp
    customers: int  # rows of the customers table opened on or before the as-of date
    active: int
    window: dict[str, tuple[str, str]] = field(default_factory=dict)  # per fit: first, last date
    churn_geometric: fits.Fit | None = None
    churn_sbg: fits.Fit | None = None
    churn_test: dict[str, Any] = field(default_factory=dict)
    age: fits.Fit | None = None
    aum: fits.Fit | None = None
    aum_source: str = ""
    txn_poisson: fits.Fit | None = None
    txn_nbd: fits.Fit | None = None
    txn_test: dict[str, Any] = field(default_factory=dict)
    flows: fits.Fit | None = None
    responses: list[dict[str, Any]] = field(default_factory=list)
    # Per customer of the book (the fits' data): customer_id, months (survived, or of closing),
    # open, and with transactions: transactions, exposure (months). The per-customer posteriors
    # (calibration.per_customer) are read from it.
    customer_data: pd.DataFrame | None = None
    # What the data could not fit, and why (a table given but no fit from it, a mixing at its
    # bound): said in the summary and the JSON, never left as a missing line or an open interval.
    not_fitted: list[str] = field(default_factory=list)
    # What the fits took on trust and the user should check (an as-of date beyond the data).
    cautions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def fit(f: fits.Fit | None) -> dict | None:
            return None if f is None else f.to_json()

        return finite_or_null(
            {
                "as_of": self.as_of.date().isoformat(),
                "customers": self.customers,
                "active": self.active,
                "windows": {k: list(v) for k, v in self.window.items()},
                "churn": {
                    "geometric": fit(self.churn_geometric),
                    "sbg": fit(self.churn_sbg),
                    "likelihood_ratio": self.churn_test,
                    "written_to_fragment": "geometric (the language holds one hazard per stage)",
                },
                "age": fit(self.age),
                "aum": fit(self.aum) and {**fit(self.aum), "source": self.aum_source},
                "transactions": {
                    "poisson": fit(self.txn_poisson),
                    "nbd": fit(self.txn_nbd),
                    "likelihood_ratio": self.txn_test,
                },
                "flows": fit(self.flows),
                "responses": self.responses,
                "not_fitted": self.not_fitted,
                "cautions": self.cautions,
            }
        )


def finite_or_null(value: Any) -> Any:
    """An open-ended interval (a bound at infinity) is null in JSON, which has no Infinity."""
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_null(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _span(dates: pd.Series) -> tuple[str, str]:
    return (dates.min().date().isoformat(), dates.max().date().isoformat())


def churn_periods(
    book: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Per customer of the book: the churn period (closed in their k-th month of tenure: k) or
    the whole months survived (still open at the as-of date: censored there), whether they
    closed by then, and the day their exposure ends."""
    closed = book["closed"] if "closed" in book else pd.Series(pd.NaT, index=book.index)
    gone = closed.notna() & (closed <= as_of)
    end = closed.where(gone, as_of)
    months = (end - book["opened"]).dt.days.to_numpy() // DAYS_PER_MONTH
    return np.where(gone, months + 1, months).astype(float), gone, end


def calibrate(
    customers: pd.DataFrame,
    as_of: pd.Timestamp,
    transactions: pd.DataFrame | None = None,
    balances: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
) -> Calibration:
    in_book = (customers["opened"] <= as_of).to_numpy()
    book = customers[in_book].copy()
    if book.empty:
        raise ValueError(f"no customer opened on or before the as-of date {as_of.date()}")
    periods, gone, end = churn_periods(book, as_of)
    result = Calibration(as_of, len(book), int((~gone).sum()))
    result.customer_data = pd.DataFrame(
        {"customer_id": book["customer_id"].to_numpy(), "months": periods, "open": ~gone.to_numpy()}
    )
    result.window["churn"] = (book["opened"].min().date().isoformat(), as_of.date().isoformat())
    at_risk = periods > 0
    if not at_risk.any():  # every customer opened within the last month: no exposure at all
        raise ValueError(
            f"no customer was open a whole month ({DAYS_PER_MONTH} days) by the as-of date "
            f"{as_of.date()}: churn cannot be fitted on no exposure; give a later as-of date"
        )
    if result.active == 0:  # the fragment's population is the open book: it would be empty
        raise ValueError(
            f"every one of the {len(book)} customers opened by {as_of.date()} closed by then: "
            "no open book to write as the population; give an earlier as-of date"
        )
    result.churn_geometric = fits.fit_geometric(periods[at_risk], gone.to_numpy()[at_risk])
    if gone.any() and gone.sum() < at_risk.sum():
        result.churn_sbg = fits.fit_sbg(periods[at_risk], gone.to_numpy()[at_risk])
        result.churn_test = fits.likelihood_ratio(result.churn_geometric, result.churn_sbg)
        _note_bound(result, "churn, sBG", "alpha and beta", result.churn_sbg, result.churn_test)
    else:
        why = "no customer closed" if not gone.any() else "every customer at risk closed"
        result.not_fitted.append(
            f"churn, sBG: {why} by {as_of.date()}, so how churn differs between customers "
            "cannot be seen; the constant hazard is written"
        )

    active = book[~gone]
    if "age" in active and active["age"].notna().sum() > 1:
        ages = active["age"].dropna().to_numpy()
        result.age = fits.fit_flows(ages)  # a normal: mean and sd with intervals
    if "aum" in active and (active["aum"] > 0).sum() > 1:
        result.aum, result.aum_source = (
            fits.fit_lognormal(active["aum"].dropna().to_numpy()),
            ("customers.aum"),
        )

    if transactions is not None:
        codes = _book_codes(customers, in_book, transactions)
        _fit_transactions(result, book, end, transactions, codes)
    if balances is not None:
        _fit_balances(result, balances, customers["customer_id"], set(active["customer_id"]))
    if contacts is not None:
        _fit_responses(result, contacts)
    _caution_as_of(result, as_of, customers, transactions, balances, contacts)
    return result


def _caution_as_of(
    result: Calibration, as_of: pd.Timestamp, customers: pd.DataFrame, *history
) -> None:
    """An as-of date more than a month after every date the tables hold: each open customer
    is counted as surviving to it, so the churn comes out too low (an as-of of 2100 on a book
    seen to 2026 gives a hazard near 0). Said, not refused: a closed book with no recent
    event is possible; an extract dated later than it was taken is the likelier case."""
    dated = [customers["opened"], customers.get("closed", pd.Series(dtype="datetime64[ns]"))]
    dated += [t[c] for t in history if t is not None for c in ("date", "month") if c in t]
    latest = max((d[d <= as_of].max() for d in dated if (d <= as_of).any()), default=None)
    if latest is None or pd.isna(latest):
        return
    gap = int((as_of - latest).days)
    if gap > DAYS_PER_MONTH:
        result.cautions.append(
            f"the as-of date {as_of.date()} is {gap} days after the latest date in the tables "
            f"({latest.date()}): every open customer counts as surviving to it; if the "
            "tables were taken earlier, give that day as --as-of"
        )


def _note_bound(
    result: Calibration, name: str, params: str, fit: fits.Fit, test: dict[str, Any]
) -> None:
    """A heterogeneous fit whose parameters ran to the search's bound has open intervals
    (0 to infinity): said in words, with what was written instead."""
    if all(np.isfinite(e.high) and e.low > 0 for e in fit.params.values()):
        return
    verdict = (
        "the data show no difference between customers; the simpler model is written"
        if test["simpler_is_as_good"]
        else "the data do not pin the mixing down; read its numbers with care"
    )
    result.not_fitted.append(
        f"{name}: {params} ran to the search's bound, so their intervals are open: {verdict}"
    )


def _arrow(values: pd.Series):
    """A text column as Arrow (pandas' own Arrow strings: their chunks, not a copy)."""
    import pyarrow as pa

    return pa.chunked_array(pa.array(values))


def _codes(ids: pd.Series, known: pd.Series) -> np.ndarray:
    """Each id's row in ``known`` (-1 where it has none), hashed in Arrow: on 30 M transactions
    a pandas groupby on text ids costs more than the whole fit."""
    import pyarrow.compute as pc

    found = pc.index_in(_arrow(ids), value_set=_arrow(known).combine_chunks())
    codes = found.fill_null(-1).to_numpy()
    return codes if codes.flags.writeable else codes.copy()


def _book_codes(
    customers: pd.DataFrame, in_book: np.ndarray, transactions: pd.DataFrame
) -> np.ndarray:
    """Each transaction's row in the book (-1: its customer opened after the as-of date).
    A transaction of a customer the customers table lacks, or dated before its customer
    opened, is refused as `backtest` refuses it: dropped or counted, it would bias the rate
    without a word. One hash of the ids against the whole table, as before against the book."""
    codes = _codes(transactions["customer_id"], customers["customer_id"])
    unknown = codes < 0
    if unknown.any():
        ids = ", ".join(map(repr, transactions["customer_id"][unknown].unique()[:5]))
        raise ValueError(
            f"transactions: column customer_id: {int(unknown.sum())} rows name customers the "
            f"customers table does not have (first: {ids})"
        )
    opened = customers["opened"].to_numpy()[codes]
    early = transactions["date"].to_numpy() < opened
    if early.any():
        raise transactions_before_opening(transactions[early])
    row = np.full(len(customers), -1, dtype=codes.dtype)
    row[in_book] = np.arange(int(in_book.sum()), dtype=codes.dtype)
    return row[codes]


def _fit_transactions(
    result: Calibration, book, end, transactions: pd.DataFrame, codes: np.ndarray
) -> None:
    dates = transactions["date"].to_numpy()
    seen = dates <= result.as_of.to_datetime64()
    if not seen.any():
        result.not_fitted.append(
            f"transactions: none dated on or before {result.as_of.date()}: no rate fitted"
        )
        return
    first, last = dates[seen].min(), dates[seen].max()
    start = pd.Timestamp(first)
    result.window["transactions"] = _span(pd.Series([first, last]))
    begin = book["opened"].where(book["opened"] > start, start)
    exposure = ((end - begin).dt.days / DAYS_PER_MONTH).clip(lower=0).to_numpy()
    codes = codes[seen & (codes >= 0)]
    counts = np.bincount(codes, minlength=len(book))
    keep = exposure > 0
    assert result.customer_data is not None
    result.customer_data["transactions"] = counts.astype(float)
    result.customer_data["exposure"] = exposure
    result.txn_poisson = fits.fit_poisson(counts[keep].astype(float), exposure[keep])
    result.txn_nbd = fits.fit_nbd(counts[keep].astype(float), exposure[keep])
    result.txn_test = fits.likelihood_ratio(result.txn_poisson, result.txn_nbd)
    _note_bound(result, "transactions, NBD", "r and alpha", result.txn_nbd, result.txn_test)


def _month_name(number: int) -> str:
    """Months since January 1970 (numpy's datetime64[M]) as YYYY-MM."""
    return f"{1970 + number // 12:04d}-{number % 12 + 1:02d}"


def _month_panel(balances: pd.DataFrame, as_of: pd.Timestamp, known: pd.Series):
    """The panel up to the as-of month as sorted keys, one a customer-month (balance types
    added up), their AUM, the first month's number, the width and each code's id. A key is
    the customer's code × width + the month's number since the first month, the width leaving
    a gap between customers so that a key one above another is the same customer's next month.
    Numpy on integer keys, not a pandas groupby on text ids and periods: 24 M rows in seconds
    and a few arrays of 8 bytes a row."""
    months = balances["month"].to_numpy()
    aum = balances["aum"].to_numpy(float)
    # Codes: rows of the customers table, then the panel's other ids (flows do not need the
    # customer to be in the book). One hash of a million ids, not a dictionary per chunk.
    code = _codes(balances["customer_id"], known)
    unknown = code < 0
    ids = known
    if unknown.any():
        extra, others = pd.factorize(balances["customer_id"][unknown])
        code[unknown] = extra + len(known)
        ids = pd.concat([known, pd.Series(others)], ignore_index=True)
    inside = months <= as_of.to_datetime64()
    if not inside.all():
        months, aum, code = months[inside], aum[inside], code[inside]
    key = months.astype("datetime64[M]").astype(np.int64)
    if key.size == 0:
        return key, aum, 0, 1, ids
    base = int(key.min())
    width = int(key.max()) - base + 2
    key -= base
    key += code.astype(np.int64) * width
    del code
    if not np.all(key[1:] >= key[:-1]):
        order = np.argsort(key, kind="stable")
        key, aum = key[order], aum[order]
        del order
    repeated = key[1:] == key[:-1]
    if repeated.any():
        starts = np.flatnonzero(np.r_[True, ~repeated])
        key, aum = key[starts], np.add.reduceat(aum, starts)
    return key, aum, base, width, ids


def _fit_balances(
    result: Calibration, balances: pd.DataFrame, known: pd.Series, active_ids: set[str]
) -> None:
    key, aum, base, width, ids = _month_panel(balances, result.as_of, known)
    if key.size == 0:
        result.not_fitted.append(
            f"balances: no month on or before {result.as_of.date()}: no AUM change fitted"
        )
        return
    number = key % width  # months since the first
    usable = np.diff(key) == 1  # the same customer's next month
    usable &= aum[:-1] > 0
    if usable.sum() > 1:
        growth = aum[1:][usable] / aum[:-1][usable] - 1
        result.flows = fits.fit_flows(growth)
        first, last = int(number.min()) + base, int(number.max()) + base
        result.window["flows"] = (_month_name(first), _month_name(last))
    else:
        result.not_fitted.append(
            "balances: fewer than two months in a row with AUM above 0 for any customer: "
            "no AUM change fitted"
        )
    del usable
    if result.aum is None:
        latest = int(number.max())
        last = number == latest
        active = ids.isin(active_ids).to_numpy()
        amounts = aum[last][active[key[last] // width]]
        if (amounts > 0).sum() > 1:
            result.aum = fits.fit_lognormal(amounts)
            result.aum_source = f"balances, {_month_name(latest + base)}"


def _fit_responses(result: Calibration, contacts: pd.DataFrame) -> None:
    seen = contacts[contacts["date"] <= result.as_of]
    if seen.empty:
        result.not_fitted.append(
            f"contacts: none dated on or before {result.as_of.date()}: no response rate fitted"
        )
        return
    result.window["responses"] = _span(seen["date"])
    keys = ["play", "channel"] if "channel" in seen else ["play"]
    for key, group in seen.fillna({k: "" for k in keys}).groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rate = fits.wilson(float(group["responded"].sum()), float(len(group)))
        result.responses.append(
            {
                **dict(zip(keys, key, strict=True)),
                "contacts": len(group),
                "responded": int(group["responded"].sum()),
                "rate": rate.value,
                "low": rate.low,
                "high": rate.high,
            }
        )


def transactions_before_opening(early: pd.DataFrame) -> ValueError:
    """The error for transactions (``customer_id``, ``date``) dated before their customer
    opened: `calibrate` and `backtest` refuse them alike."""
    first = early.head(5)
    shown = ", ".join(
        f"{c} on {d.date()}" for c, d in zip(first.customer_id, first.date, strict=True)
    )
    return ValueError(
        f"transactions: {len(early)} transactions before their customer opened "
        f"(first: {shown}); the opened date must be the first day of the relationship"
    )
