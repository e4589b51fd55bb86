"""BookSim2's random numbers: Knuth's lagged-Fibonacci generators (TAOCP 3.6, ran_array / ranf_array).

RandomSeed(seed) starts both; RandomFloat() draws from the real one, RandomInt(max) = next % (max + 1) from the
integer one. State (`Rng`): KK words each (float64 `u`, int64 `x`), refill buffers of QUALITY words (`fb`, `ib`;
separate arrays so that the refill loops vectorise) and `p` = next buffer position of each (BookSim uses
buf[0..99] of every refill, buf[100] is its end sentinel).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

KK, LL, QUALITY, TT = 100, 37, 1009, 70
MM = 1 << 30


class Rng(NamedTuple):
    """Both generators' states and refill buffers; p[0] / p[1]: next position in fb / ib."""

    u: np.ndarray       # float64[KK]: ranf state
    fb: np.ndarray      # float64[QUALITY]: ranf refill buffer
    x: np.ndarray       # int64[KK]: ran state
    ib: np.ndarray      # int64[QUALITY]: ran refill buffer
    p: np.ndarray       # int64[2]


def new_rng() -> Rng:
    """Unseeded generators (both buffers empty)."""
    return Rng(np.zeros(KK, np.float64), np.zeros(QUALITY, np.float64), np.zeros(KK, np.int64),
               np.zeros(QUALITY, np.int64), np.full(2, KK, np.int64))


@njit(cache=True)
def _ran_array(x, aa, n):
    """Knuth's ran_array: n new integers (mod 2^30) into aa[:n], advancing the state x[:KK]."""
    for j in range(KK):
        aa[j] = x[j]
    for j in range(KK, n):
        aa[j] = (aa[j - KK] - aa[j - LL]) & (MM - 1)
    j = n
    for i in range(LL):
        x[i] = (aa[j - KK] - aa[j - LL]) & (MM - 1)
        j += 1
    for i in range(LL, KK):
        x[i] = (aa[j - KK] - x[i - LL]) & (MM - 1)
        j += 1


@njit(cache=True, inline="always")
def _mod_sum(a, b):
    """(a + b) mod 1.0 as Knuth writes it, (a+b) - (int)(a+b), for a, b in [0, 1)."""
    s = a + b
    return s - 1.0 if s >= 1.0 else s


@njit(cache=True)
def _ranf_array(u, aa, n):
    """Knuth's ranf_array: n new fractions into aa[:n], advancing the state u[:KK]."""
    for j in range(KK):
        aa[j] = u[j]
    for j in range(KK, n):
        aa[j] = _mod_sum(aa[j - KK], aa[j - LL])
    j = n
    for i in range(LL):
        u[i] = _mod_sum(aa[j - KK], aa[j - LL])
        j += 1
    for i in range(LL, KK):
        u[i] = _mod_sum(aa[j - KK], u[i - LL])
        j += 1


@njit(cache=True)
def _ran_start(seed, rx):
    """Knuth's ran_start(seed) into the state rx[:KK]."""
    x = np.zeros(KK + KK - 1, np.int64)
    ss = (seed + 2) & (MM - 2)
    for j in range(KK):
        x[j] = ss
        ss <<= 1
        if ss >= MM:
            ss -= MM - 2
    x[1] += 1
    ss = seed & (MM - 1)
    t = TT - 1
    while t:
        for j in range(KK - 1, 0, -1):
            x[j + j] = x[j]
            x[j + j - 1] = 0
        for j in range(KK + KK - 2, KK - 1, -1):
            x[j - (KK - LL)] = (x[j - (KK - LL)] - x[j]) & (MM - 1)
            x[j - KK] = (x[j - KK] - x[j]) & (MM - 1)
        if ss & 1:
            for j in range(KK, 0, -1):
                x[j] = x[j - 1]
            x[0] = x[KK]
            x[LL] = (x[LL] - x[KK]) & (MM - 1)
        if ss:
            ss >>= 1
        else:
            t -= 1
    for j in range(LL):
        rx[j + KK - LL] = x[j]
    for j in range(LL, KK):
        rx[j - LL] = x[j]
    for _ in range(10):
        _ran_array(rx, x, KK + KK - 1)


@njit(cache=True)
def _ranf_start(seed, ru):
    """Knuth's ranf_start(seed) into the state ru[:KK]."""
    u = np.zeros(KK + KK - 1, np.float64)
    ulp = (1.0 / (1 << 30)) / (1 << 22)
    fs = 2.0 * ulp * ((seed & 0x3FFFFFFF) + 2)
    for j in range(KK):
        u[j] = fs
        fs += fs
        if fs >= 1.0:
            fs -= 1.0 - 2 * ulp
    u[1] += ulp
    s = seed & 0x3FFFFFFF
    t = TT - 1
    while t:
        for j in range(KK - 1, 0, -1):
            u[j + j] = u[j]
            u[j + j - 1] = 0.0
        for j in range(KK + KK - 2, KK - 1, -1):
            u[j - (KK - LL)] = _mod_sum(u[j - (KK - LL)], u[j])
            u[j - KK] = _mod_sum(u[j - KK], u[j])
        if s & 1:
            for j in range(KK, 0, -1):
                u[j] = u[j - 1]
            u[0] = u[KK]
            u[LL] = _mod_sum(u[LL], u[KK])
        if s:
            s >>= 1
        else:
            t -= 1
    for j in range(LL):
        ru[j + KK - LL] = u[j]
    for j in range(LL, KK):
        ru[j - LL] = u[j]
    for _ in range(10):
        _ranf_array(ru, u, KK + KK - 1)


@njit(cache=True)
def rng_seed(seed, ru, rx, rp):
    """BookSim's RandomSeed(seed): Knuth's ran_start and ranf_start; both buffers empty (the first draw refills)."""
    _ran_start(seed, rx)
    _ranf_start(seed, ru)
    rp[0] = KK
    rp[1] = KK


def seed_rng(rng: Rng, seed: int) -> None:
    """RandomSeed(seed) on an `Rng`."""
    rng_seed(int(seed), rng.u, rng.x, rng.p)


@njit(cache=True, inline="always")
def random_float(rng, fpos):
    """BookSim's RandomFloat() with the buffer position `fpos` held by the caller: (value, new position)."""
    if fpos >= KK:
        _ranf_array(rng.u, rng.fb, QUALITY)
        fpos = 0
    return rng.fb[fpos], fpos + 1


@njit(cache=True, inline="always")
def random_int(rng, n):
    """BookSim's RandomInt(n - 1): the next integer of the ran_array stream modulo n."""
    rp = rng.p
    if rp[1] >= KK:
        _ran_array(rng.x, rng.ib, QUALITY)
        rp[1] = 0
    v = rng.ib[rp[1]]
    rp[1] += 1
    return v % n
