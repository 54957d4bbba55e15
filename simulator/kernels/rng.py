"""Counter-based random numbers: every draw is a pure function of its key.

A draw is keyed by (replication key, customer id, step, slot). Nothing is shared or advanced, so
a customer's numbers do not depend on which thread, shard or order simulated it, and two variants
of a strategy see the same draws for the same decisions (common random numbers).

The key is mixed with the splitmix64 finaliser ``mix64`` (Stafford's "Mix13": xor-shift,
multiply, xor-shift, multiply, xor-shift; a bijection of 64-bit words with full avalanche),
chained over the key words, each first spread by multiplying with an odd 64-bit constant::

    replication_key(seed, rep) = mix64(mix64(seed ^ SEED_SALT) ^ (rep + 1) * G_REP)
    customer_key(rk, cid)      = mix64(rk ^ cid * G_CUSTOMER)
    step_key(ck, step)         = mix64(ck ^ step * G_STEP)
    draw(sk, slot)             = mix64(sk ^ (slot + 1) * G_SLOT)
    uniform                    = ((draw >> 11) + 0.5) * 2**-53     # in (0, 1), 53 bits

Every stage is a bijection of the customer id for fixed other words, so the draw of one slot at
one step is a permutation of customer ids: the tie-break key of the capacity allocation is
therefore unique per customer. All words are ``np.uint64``: a Python int handed to Numba becomes
int64, and int64 mixed with uint64 silently becomes float64 (the reason every constant below
is wrapped).

Each kernel-side function (``nb_*``, Numba, scalar) has a NumPy twin (vectorised over arrays)
that performs the same IEEE operations in the same order, so a plain-NumPy reference reproduces
the kernel's draws bit for bit. Transcendental functions are our own (fdlibm's ``log`` and
``exp``, Wichura's AS241 inverse normal), built from + − × ÷ and ``sqrt`` only, because the
platform's ``log``/``exp`` may differ by an ulp between NumPy's SIMD loops and Numba's libm.

The slot table (which decision uses which slot) is in ``SLOTS`` and docs/simulation.md.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulator.kernels.cache import install

# Here as well as in simulator/__init__.py, before any kernel is defined: rng is the first
# kernel module every kernel module imports. The package's __init__ does not always run: a
# regular install replaced by an editable one (the README's two quick-start commands, in order)
# leaves the kernels' cache files in site-packages/simulator/__pycache__, and that folder makes
# `simulator` a namespace package whose modules come from the checkout without its __init__:
# the kernels were then cached under Numba's per-file stamps, not the digest of all sources.
install()

# ------------------------------------------------------------------------------ constants

M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
SEED_SALT = np.uint64(0x5354524154_4D4150)  # "STRATMAP"
G_REP = np.uint64(0xA0761D6478BD642F)
G_CUSTOMER = np.uint64(0x9E3779B97F4A7C15)
G_STEP = np.uint64(0xD1B54A32D192ED03)
G_SLOT = np.uint64(0x8CB92BA72F3D8DD7)
ONE = np.uint64(1)
TWO_M53 = 2.0**-53

GLOBAL_CUSTOMER = np.uint64(0xFFFFFFFFFFFFFFFF)  # the "customer" of draws common to everyone
STATIC_STEP = np.uint64(0xFFFFFFFF)  # the "step" of per-customer draws fixed for the whole run

# ------------------------------------------------------------------------------ slot table
# Per customer and step (step key = the step, 0 for the initial population):
SLOT_FLOW = 0  # net flow on AUM, normal
SLOT_TXN = 1  # transactions in the step, Poisson
SLOT_TRANSITION = 2  # lifecycle transition, one uniform against the cumulative row
SLOT_MODEL_NOISE = 16  # + model index: the noise of the model's score, normal
SLOT_MODEL_LABEL = 48  # + model index: latent label of a response/purchase model
SLOT_TIEBREAK = 80  # order among customers for capacity and budget (a permutation of ids)
SLOT_REACH = 1024  # + play index: the contact reaches the customer
SLOT_RESPONSE = 2048  # + play index: the reached customer responds
SLOT_INFLOW = 3072  # + play index: the amount a response brings
SLOT_COMPLAINT = 4096  # + play index: the reached customer complains (营销扰民)
SLOT_OPT_OUT = 5120  # + play index: the reached customer opts out of the channel (退订)
# Initial population (step key 0; arrivals are keyed by their own id, not by their step):
SLOT_ATTRIBUTE = 8192  # + 64 × attribute index: attribute draws (64 sub-slots for rejection)
SLOT_STAGE_AGE = 8191  # steps already spent in the initial stage, geometric
SLOT_PAST_TXN = 7168  # + k: transactions k steps before step 0 (history of recency, txn_3m)
SLOT_HOLDING = 4096  # + 4 × product + 0/1/2: held at step 0, the amount, the remaining tenor
# Fixed for the run (step key STATIC_STEP):
SLOT_CONTROL = 0  # global control group (非模型组)
SLOT_HOLDOUT = 256  # + rule/journey index: the play's own holdout
SLOT_BIRTHDAY = 1  # day of the 360-day year
SLOT_PAYDAY = 2  # day of the 30-day month salary is credited
SLOT_MODEL_PERSISTENT = 16  # + model index: the customer's own term of a persistent score
SLOT_DRAWN_CHURN = 4096  # + 64 × column: the customer's own churn chance (`churned ~ beta`)
# Global (customer GLOBAL_CUSTOMER):
SLOT_MARKET_RETURN = 0  # the step's market return, common to all customers

SLOTS: dict[str, tuple[str, int]] = {
    "flow": ("step", SLOT_FLOW),
    "txn": ("step", SLOT_TXN),
    "transition": ("step", SLOT_TRANSITION),
    "model_noise+m": ("step", SLOT_MODEL_NOISE),
    "model_label+m": ("step", SLOT_MODEL_LABEL),
    "tiebreak": ("step", SLOT_TIEBREAK),
    "reach+p": ("step", SLOT_REACH),
    "response+p": ("step", SLOT_RESPONSE),
    "inflow+p": ("step", SLOT_INFLOW),
    "complaint+p": ("step", SLOT_COMPLAINT),
    "opt_out+p": ("step", SLOT_OPT_OUT),
    "attribute+64a": ("0", SLOT_ATTRIBUTE),
    "stage_age": ("0", SLOT_STAGE_AGE),
    "past_txn+k": ("0", SLOT_PAST_TXN),
    "holding+4d": ("0", SLOT_HOLDING),
    "control": ("static", SLOT_CONTROL),
    "holdout+g": ("static", SLOT_HOLDOUT),
    "birthday": ("static", SLOT_BIRTHDAY),
    "payday": ("static", SLOT_PAYDAY),
    "model_persistent+m": ("static", SLOT_MODEL_PERSISTENT),
    "drawn_churn+64j": ("static", SLOT_DRAWN_CHURN),
    "market_return": ("global", SLOT_MARKET_RETURN),
}


# ------------------------------------------------------------------------------ mixing
# One body for both sides: pure uint64 arithmetic works on Numba scalars and NumPy arrays.


def mix64(z):
    """splitmix64's finaliser: a bijection of 64-bit words with full avalanche."""
    z = (z ^ (z >> _S30)) * M1
    z = (z ^ (z >> _S27)) * M2
    return z ^ (z >> _S31)


nb_mix64 = njit(cache=True, inline="always")(mix64)


@njit(cache=True, inline="always")
def nb_customer_key(rk: np.uint64, cid: int) -> np.uint64:
    return nb_mix64(np.uint64(rk) ^ (np.uint64(cid) * G_CUSTOMER))


@njit(cache=True, inline="always")
def nb_step_key(ck: np.uint64, step: int) -> np.uint64:
    return nb_mix64(np.uint64(ck) ^ (np.uint64(step) * G_STEP))


@njit(cache=True, inline="always")
def nb_draw(sk: np.uint64, slot: int) -> np.uint64:
    return nb_mix64(np.uint64(sk) ^ ((np.uint64(slot) + ONE) * G_SLOT))


@njit(cache=True, inline="always")
def nb_to_uniform(bits: np.uint64) -> float:
    return (float(bits >> _S11) + 0.5) * TWO_M53


@njit(cache=True, inline="always")
def nb_uniform(sk: np.uint64, slot: int) -> float:
    return nb_to_uniform(nb_draw(sk, slot))


def replication_key(seed: int, rep: int) -> np.uint64:
    """The key of replication ``rep`` of a run with ``seed`` (both non-negative ints)."""
    with np.errstate(over="ignore"):
        s = np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
        r = np.array([rep + 1], dtype=np.uint64)
        return mix64(mix64(s ^ SEED_SALT) ^ (r * G_REP))[0]


def customer_key(rk: np.uint64, cid: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return mix64(np.uint64(rk) ^ (np.asarray(cid).astype(np.uint64) * G_CUSTOMER))


def step_key(ck: np.ndarray, step: int | np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return mix64(ck ^ (np.asarray(step).astype(np.uint64) * G_STEP))


def draw(sk: np.ndarray, slot: int | np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return mix64(sk ^ ((np.asarray(slot).astype(np.uint64) + ONE) * G_SLOT))


def to_uniform(bits: np.ndarray) -> np.ndarray:
    return ((bits >> _S11).astype(np.float64) + 0.5) * TWO_M53


def uniform(
    rk: np.uint64, cid: np.ndarray, step: int | np.ndarray, slot: int | np.ndarray
) -> np.ndarray:
    """Uniforms in (0, 1) for customers ``cid`` (array) at ``step`` and ``slot``."""
    return to_uniform(draw(step_key(customer_key(rk, cid), step), slot))


def global_uniform(rk: np.uint64, step: int, slot: int) -> float:
    """A draw common to all customers (the market return)."""
    cid = np.array([GLOBAL_CUSTOMER], dtype=np.uint64)
    return float(uniform(rk, cid, step, slot)[0])


# ------------------------------------------------------------------------------ log and exp
# fdlibm's e_log.c and e_exp.c (Sun Microsystems, freely redistributable), < 1 ulp.

LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
SQRT_HALF = 0.70710678118654752440
LG1, LG2, LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
LG4, LG5, LG6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
LG7 = 1.479819860511658591e-01
P1, P2, P3 = 1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05
P4, P5 = -1.65339022054652515390e-06, 4.13813679705723846039e-08


@njit(cache=True)
def nb_log(x: float) -> float:
    """Natural log of a positive finite x."""
    m, e = math.frexp(x)
    if m < SQRT_HALF:
        m = m * 2.0
        e -= 1
    f = m - 1.0
    k = float(e)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    r = t2 + t1
    hfsq = 0.5 * f * f
    return k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)


def log(x: np.ndarray) -> np.ndarray:
    m, e = np.frexp(np.asarray(x, dtype=np.float64))
    low = m < SQRT_HALF
    m = np.where(low, m * 2.0, m)
    k = (e - low).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    r = t2 + t1
    hfsq = 0.5 * f * f
    return k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)


# 2**k for the k that exp's range reduction can give: multiplying by a power of two is exact
# here (the result stays a normal number), and a table is faster than ldexp.
POW2_BIAS = 1023
POW2 = np.ldexp(1.0, np.arange(-POW2_BIAS, 1024))  # index k + POW2_BIAS, k in [-1023, 1023]


@njit(cache=True)
def nb_exp(x: float) -> float:
    """e**x, for x in [-708, 709] (clamped there)."""
    x = min(max(x, -708.0), 709.0)
    k = math.floor(x * INV_LN2 + 0.5)
    hi = x - k * LN2_HI
    lo = k * LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return y * POW2[int(k) + POW2_BIAS]


def exp(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), -708.0, 709.0)
    k = np.floor(x * INV_LN2 + 0.5)
    hi = x - k * LN2_HI
    lo = k * LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return y * POW2[k.astype(np.int64) + POW2_BIAS]


# ------------------------------------------------------------------------------ normal
# Wichura (1988), Algorithm AS 241 PPND16: the inverse normal CDF to about 1e-16.

_A = (
    3.3871328727963666080e0,
    1.3314166789178437745e2,
    1.9715909503065514427e3,
    1.3731693765509461125e4,
    4.5921953931549871457e4,
    6.7265770927008700853e4,
    3.3430575583588128105e4,
    2.5090809287301226727e3,
)
_B = (
    1.0,
    4.2313330701600911252e1,
    6.8718700749205790830e2,
    5.3941960214247511077e3,
    2.1213794301586595867e4,
    3.9307895800092710610e4,
    2.8729085735721942674e4,
    5.2264952788528545610e3,
)
_C = (
    1.42343711074968357734e0,
    4.63033784615654529590e0,
    5.76949722146069140550e0,
    3.64784832476320460504e0,
    1.27045825245236838258e0,
    2.41780725177450611770e-1,
    2.27238449892691845833e-2,
    7.74545014278341407640e-4,
)
_D = (
    1.0,
    2.05319162663775882187e0,
    1.67638483018380384940e0,
    6.89767334985100004550e-1,
    1.48103976427480074590e-1,
    1.51986665636164571966e-2,
    5.47593808499534494600e-4,
    1.05075007164441684324e-9,
)
_E = (
    6.65790464350110377720e0,
    5.46378491116411436990e0,
    1.78482653991729133580e0,
    2.96560571828504891230e-1,
    2.65321895265761230930e-2,
    1.24266094738807843860e-3,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
)
_F = (
    1.0,
    5.99832206555887937690e-1,
    1.36929880922735805310e-1,
    1.48753612908506148525e-2,
    7.86869131145613259100e-4,
    1.84631831751005468180e-5,
    1.42151175831644588870e-7,
    2.04426310338993978564e-15,
)
A0, A1, A2, A3, A4, A5, A6, A7 = _A
B0, B1, B2, B3, B4, B5, B6, B7 = _B
C0, C1, C2, C3, C4, C5, C6, C7 = _C
D0, D1, D2, D3, D4, D5, D6, D7 = _D
E0, E1, E2, E3, E4, E5, E6, E7 = _E
F0, F1, F2, F3, F4, F5, F6, F7 = _F


def _poly(c: tuple[float, ...], r):
    return (
        (((((c[7] * r + c[6]) * r + c[5]) * r + c[4]) * r + c[3]) * r + c[2]) * r + c[1]
    ) * r + c[0]


@njit(cache=True, inline="always")
def nb_inv_normal_central(p: float) -> float:
    """``nb_inv_normal(p)`` where |p − 0.5| ≤ 0.425 (its central branch, the same operations),
    and a finite number of no meaning elsewhere: without a branch, so that a loop of these over
    many uniforms runs in vector registers."""
    q = p - 0.5
    r = 0.180625 - q * q
    num = ((((((A7 * r + A6) * r + A5) * r + A4) * r + A3) * r + A2) * r + A1) * r + A0
    den = ((((((B7 * r + B6) * r + B5) * r + B4) * r + B3) * r + B2) * r + B1) * r + B0
    return q * num / den


@njit(cache=True)
def nb_inv_normal(p: float) -> float:
    """The standard normal quantile of p in (0, 1)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = ((((((A7 * r + A6) * r + A5) * r + A4) * r + A3) * r + A2) * r + A1) * r + A0
        den = ((((((B7 * r + B6) * r + B5) * r + B4) * r + B3) * r + B2) * r + B1) * r + B0
        return q * num / den
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-nb_log(r))
    if r <= 5.0:
        r = r - 1.6
        num = ((((((C7 * r + C6) * r + C5) * r + C4) * r + C3) * r + C2) * r + C1) * r + C0
        den = ((((((D7 * r + D6) * r + D5) * r + D4) * r + D3) * r + D2) * r + D1) * r + D0
    else:
        r = r - 5.0
        num = ((((((E7 * r + E6) * r + E5) * r + E4) * r + E3) * r + E2) * r + E1) * r + E0
        den = ((((((F7 * r + F6) * r + F5) * r + F4) * r + F3) * r + F2) * r + F1) * r + F0
    value = num / den
    return -value if q < 0.0 else value


def inv_normal(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    q = p - 0.5
    out = np.empty_like(p)
    central = np.abs(q) <= 0.425
    r = 0.180625 - q[central] * q[central]
    out[central] = q[central] * _poly(_A, r) / _poly(_B, r)
    tail = ~central
    qt = q[tail]
    r = np.where(qt < 0.0, p[tail], 1.0 - p[tail])
    r = np.sqrt(-log(r))
    near = r <= 5.0
    value = np.empty_like(r)
    rn = r[near] - 1.6
    value[near] = _poly(_C, rn) / _poly(_D, rn)
    rf = r[~near] - 5.0
    value[~near] = _poly(_E, rf) / _poly(_F, rf)
    out[tail] = np.where(qt < 0.0, -value, value)
    return out


# ------------------------------------------------------------------------------ Poisson
# Inverse transform from one uniform (sequential search: p0 = e^-λ, p_k = p_(k-1)·(λ·(1/k)),
# the first k whose running sum reaches u); above POISSON_NORMAL_ABOVE, the normal
# approximation with continuity correction (the same uniform through the inverse normal).

POISSON_NORMAL_ABOVE = 30.0
POISSON_MAX = 1000
# 1/k: each term of the search is p·(λ·(1/k)) — a multiplication where a division would cost
# four times as much; NumPy and Numba read the same table, so they agree to the bit.
RECIPROCALS = 1.0 / np.maximum(np.arange(POISSON_MAX + 1, dtype=np.float64), 1.0)


@njit(cache=True)
def nb_poisson(u: float, lam: float) -> int:
    if lam <= 0.0:
        return 0
    if lam > POISSON_NORMAL_ABOVE:
        value = math.floor(lam + math.sqrt(lam) * nb_inv_normal(u) + 0.5)
        return int(max(value, 0.0))
    p = nb_exp(-lam)
    cdf = p
    k = 0
    while u > cdf and k < POISSON_MAX:
        k += 1
        p = p * (lam * RECIPROCALS[k])
        cdf = cdf + p
    return k


# The same draws from a table of running sums: a kernel that draws many Poisson numbers with
# few distinct means (transactions: the customer's whole-number rate × a factor per stage)
# works each mean's running sums out once, then finds k by counting the sums below u — no
# exp and no dependent chain of multiplications per draw, the very same k.
POISSON_TERMS = 32  # running sums kept per mean (a multiple of 8); a u beyond them searches on


@njit(cache=True)
def nb_poisson_sums(lam: float, out: np.ndarray) -> None:
    """Fill ``out`` (float64, (POISSON_TERMS,)) with the running sums ``nb_poisson(u, lam)``
    compares u with, computed by the same operations: +inf everywhere where it returns 0
    without searching (lam ≤ 0), −inf where it does not search at all (the normal range)."""
    if lam <= 0.0:
        out[:] = np.inf
        return
    if lam > POISSON_NORMAL_ABOVE:
        out[:] = -np.inf
        return
    p = nb_exp(-lam)
    cdf = p
    out[0] = cdf
    for k in range(1, out.size):
        p = p * (lam * RECIPROCALS[k])
        cdf = cdf + p
        out[k] = cdf


@njit(cache=True, inline="always")
def nb_poisson_tabled(u: float, lam: float, sums: np.ndarray) -> int:
    """``nb_poisson(u, lam)`` given ``sums = nb_poisson_sums(lam)``. The sums never decrease
    (each adds a term ≥ 0), so the number of them below u is the first k whose sum reaches u;
    if u is beyond them all, the plain search decides."""
    k = 0
    for j in range(0, POISSON_TERMS, 8):  # eight sums at a time: compares without branches
        if u > sums[j + 7]:
            k = j + 8
            continue
        for q in range(j, j + 8):
            k += np.int64(u > sums[q])
        return k
    return nb_poisson(u, lam)


def poisson(u: np.ndarray, lam: np.ndarray | float) -> np.ndarray:
    u = np.asarray(u, dtype=np.float64)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
    out = np.zeros(u.shape, dtype=np.int64)
    big = lam > POISSON_NORMAL_ABOVE
    if big.any():
        lb = lam[big]
        value = np.floor(lb + np.sqrt(lb) * inv_normal(u[big]) + 0.5)
        out[big] = np.maximum(value, 0.0).astype(np.int64)
    small = (~big) & (lam > 0.0)
    idx = np.nonzero(small)[0]
    if idx.size:
        ls, us = lam[idx], u[idx]
        p = exp(-ls)
        cdf = p.copy()
        k = np.zeros(idx.size, dtype=np.int64)
        going = us > cdf
        while going.any():
            k = np.where(going, k + 1, k)
            p = np.where(going, p * (ls * RECIPROCALS[k]), p)
            cdf = np.where(going, cdf + p, cdf)
            going = going & (us > cdf) & (k < POISSON_MAX)
        out[idx] = k
    return out


# ------------------------------------------------------------------------------ gamma, beta
# Marsaglia and Tsang (2000); attempt j of a draw uses sub-slots base+2j (normal) and
# base+2j+1 (uniform), at most GAMMA_ATTEMPTS attempts (the chance of running out is below
# 1e-20); shape < 1 is boosted with one more uniform at sub-slot base+2*GAMMA_ATTEMPTS.

GAMMA_ATTEMPTS = 14
GAMMA_SLOTS = 2 * GAMMA_ATTEMPTS + 1


@njit(cache=True)
def nb_gamma(sk: np.uint64, base: int, shape: float) -> float:
    a = shape if shape >= 1.0 else shape + 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    value = d
    for j in range(GAMMA_ATTEMPTS):
        x = nb_inv_normal(nb_uniform(sk, base + 2 * j))
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = nb_uniform(sk, base + 2 * j + 1)
        if nb_log(u) < 0.5 * x * x + d - d * v + d * nb_log(v):
            value = d * v
            break
    if shape < 1.0:
        u = nb_uniform(sk, base + 2 * GAMMA_ATTEMPTS)
        value = value * nb_exp(nb_log(u) / shape)
    return value


def gamma(sk: np.ndarray, base: int, shape: float) -> np.ndarray:
    a = shape if shape >= 1.0 else shape + 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    value = np.full(sk.shape, d)
    pending = np.ones(sk.shape, dtype=bool)
    for j in range(GAMMA_ATTEMPTS):
        if not pending.any():
            break
        x = inv_normal(to_uniform(draw(sk, base + 2 * j)))
        v = 1.0 + c * x
        ok = pending & (v > 0.0)
        v = np.where(ok, v, 1.0)
        v = v * v * v
        u = to_uniform(draw(sk, base + 2 * j + 1))
        accept = ok & (log(u) < 0.5 * x * x + d - d * v + d * log(v))
        value = np.where(accept, d * v, value)
        pending = pending & ~accept
    if shape < 1.0:
        u = to_uniform(draw(sk, base + 2 * GAMMA_ATTEMPTS))
        value = value * exp(log(u) / shape)
    return value


@njit(cache=True)
def nb_beta(sk: np.uint64, base: int, a: float, b: float) -> float:
    x = nb_gamma(sk, base, a)
    y = nb_gamma(sk, base + GAMMA_SLOTS, b)
    return x / (x + y)


def beta(sk: np.ndarray, base: int, a: float, b: float) -> np.ndarray:
    x = gamma(sk, base, a)
    y = gamma(sk, base + GAMMA_SLOTS, b)
    return x / (x + y)
