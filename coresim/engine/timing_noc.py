"""The timing loop with the NoC kernel inside (`run_fused`): `timing_kernel.control`'s settling and the NoC's
windows in one numba call, which returns only when Python must act (an array to grow, records to keep, a step
done for the progress bar, the end). For NoCs of one-cycle router stages (`flit_kernel.noc_run_staged`, the chips'
presets); others take one `control` call per window (`TimedChip._loop`). The window is run as `Noc.run` runs it:
the kernel to `g[G_UNTIL]` (or a watch), its delivery records counted as they fill (`control` counts them at the
window's end: the order of a window's counting changes where a window stops, never the cycles).
The NoC kernel is an argument, `noc`, a first-class function (`numba.types.FunctionType`; `TimedChip` passes
`noc_run_staged`): the loop calls it through its address instead of holding a copy of its code, so the loop
compiles without the kernel (~9 s less) and, on a first run, beside it in another process
(`util.compiling_aside`): the first run on two cores ~29 s sooner (benchmarks/RESULTS.md, session 14)."""

from __future__ import annotations

from numba import njit

from coresim.engine.timing_kernel import (
    BAD_DELIVERY,
    G_CHUNK,
    G_DONE,
    G_HIT,
    G_INWIN,
    G_NEED,
    G_NOCST,
    G_NOW,
    G_SEEN,
    G_UNTIL,
    NEED_CHUNK,
    NOC_DEADLOCK,
    NOC_PIDS,
    NOC_RX,
    RUN_NOC,
    SOURCES,
    STEP_DONE,
    advance,
    count,
)
from coresim.noc.flit_state import NOW, NREC, RX_GROW, ST_DEADLOCK, ST_NEED_PIDS, ST_UNTIL, ST_WATCH
from coresim.util import sources_digest


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def noc_window(noc, p, d, bk, sc, cfg, rng, term, inp, out, arb, wires, pk, rec, scr, buf):
    """Run the window (`Noc.run`): 0 when it is over (g[G_HIT]: it stopped at a watch), else what Python must do
    first (the kernel's status is kept in g[G_NOCST] meanwhile, -1: the kernel is to run)."""
    g = d.g
    while True:
        if g[G_NOCST] < 0:
            g[G_NOCST] = noc(g[G_UNTIL], cfg, sc, rng, term, inp, out, arb, wires, pk, rec, scr, d.watch, buf)
        st = g[G_NOCST]
        n = sc[NREC]
        if n:
            if g[G_CHUNK] + n > bk.chunk.shape[0]:
                g[G_NEED] = n
                return NEED_CHUNK
            if not count(p, d, bk, (rec.tag, rec.dst, rec.ct, rec.it, rec.et, rec.hops), n):
                return BAD_DELIVERY
            sc[NREC] = 0
        if sc[RX_GROW]:
            return NOC_RX
        if st == ST_DEADLOCK:
            return NOC_DEADLOCK
        g[G_NOCST] = -1
        if st == ST_NEED_PIDS:
            return NOC_PIDS
        if st == ST_UNTIL or st == ST_WATCH:
            g[G_NOW] = max(g[G_NOW], sc[NOW])
            g[G_HIT] = st == ST_WATCH
            return 0
        # ST_REC_FULL, ST_RX_GROW: records counted, the ring grown: the window goes on


def _compile(digest: int):

    @njit(cache=True)
    def run_fused(noc, p, d, bk, sc, pk, term, queued, buf, cfg, rng, inp, out, arb, wires, rec, scr):
        """Settle, run the NoC's window, count its deliveries, again, until Python must act (module docstring)."""
        _ = digest                      # in numba's cache key (`coresim.util.sources_digest`)
        g = d.g
        while True:
            if g[G_INWIN]:
                st = noc_window(noc, p, d, bk, sc, cfg, rng, term, inp, out, arb, wires, pk, rec, scr, buf)
                if st:
                    return st
                g[G_INWIN] = 0
            hit = g[G_HIT]
            g[G_HIT] = 0
            st = advance(p, d, bk, sc, pk, term, queued, buf, hit)
            if st != RUN_NOC:
                return st
            g[G_INWIN] = 1
            if g[G_DONE] != g[G_SEEN]:
                g[G_SEEN] = g[G_DONE]
                return STEP_DONE

    return run_fused


run_fused = _compile(sources_digest(__file__, SOURCES + ("timing_noc.py",)))
