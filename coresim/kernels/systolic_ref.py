"""Cycle-stepped reference MAC arrays in plain numpy: the test oracle for `coresim.components.mac_array`.

Operands really move through the PE grid one hop per cycle (registers shifted every cycle) and the PEs really
multiply-accumulate, so the result is checked against ``A @ B`` as well as the cycle and SRAM counts. Slow by
design (O(cycles x rows x cols)): small shapes only.

Array conventions (the SCALE-Sim machine): ifmap ``A[M, K]``, filter ``B[K, N]``; folds run column-fold
outer, row-fold inner, one after another; a partly used fold carries null operands through the unused PEs
and lasts as long as a full one.

- os: PE(i, j) accumulates ofmap (m0+i, n0+j). A's row i enters the left edge delayed i cycles and moves
  right; B's column j enters the top edge delayed j cycles and moves down. The fold ends when every PE has
  consumed its K operand pairs (the accumulators are read out in the shadow of the next fold, as SCALE-Sim
  assumes). ``ofmap_writes`` here counts the M*N outputs really written, without SCALE-Sim's os quirk.
- ws / is: the stationary tile is shifted in from the top edge, one row per cycle for ``rows`` cycles (last
  row first). Then streamed vectors enter the left edge skewed by one cycle per row and move right; partial
  sums move down and leave the bottom edge. The fold ends when the last partial sum has left the array.
  ws holds B (K on rows, N on cols) and streams A's rows; is holds A^T (K on rows, M on cols) and streams
  B's columns.
- vector: one cycle per (pixel, output-channel group, input chunk), then the pipeline fill.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coresim.components.mac_array import vector_fill_cycles


@dataclass
class RefResult:
    cycles: int                  # busy cycles, counted from 1
    ifmap_reads: int             # valid operand words read from SRAM
    filter_reads: int
    ofmap_writes: int            # valid output / partial-sum words written to SRAM
    out: np.ndarray              # the product computed by the PEs


def _os_fold(a: np.ndarray, b: np.ndarray, rows: int, cols: int) -> tuple[int, np.ndarray]:
    """One os fold. a: [mr, K] ifmap rows, b: [K, nc] filter columns (mr <= rows, nc <= cols)."""
    mr, T = a.shape
    nc = b.shape[1]
    a_pad = np.zeros((rows, T), a.dtype)
    a_pad[:mr] = a
    b_pad = np.zeros((T, cols), b.dtype)
    b_pad[:, :nc] = b
    a_reg = np.zeros((rows, cols), a.dtype)
    b_reg = np.zeros((rows, cols), b.dtype)
    a_tok = np.zeros((rows, cols), bool)      # an operand (possibly null) occupies this register
    b_tok = np.zeros((rows, cols), bool)
    acc = np.zeros((rows, cols), np.result_type(a, b))
    consumed = np.zeros((rows, cols), np.int64)
    i_idx, j_idx = np.arange(rows), np.arange(cols)
    t = 0
    while not (consumed == T).all():
        a_reg[:, 1:], a_tok[:, 1:] = a_reg[:, :-1].copy(), a_tok[:, :-1].copy()
        b_reg[1:], b_tok[1:] = b_reg[:-1].copy(), b_tok[:-1].copy()
        ka, kb = t - i_idx, t - j_idx             # skewed injection at the left and top edges
        in_a, in_b = (ka >= 0) & (ka < T), (kb >= 0) & (kb < T)
        a_tok[:, 0], b_tok[0] = in_a, in_b
        a_reg[:, 0] = np.where(in_a, a_pad[i_idx, np.clip(ka, 0, T - 1)], 0)
        b_reg[0] = np.where(in_b, b_pad[np.clip(kb, 0, T - 1), j_idx], 0)
        fire = a_tok & b_tok
        acc += np.where(fire, a_reg * b_reg, 0)
        consumed += fire
        t += 1
    return t, acc[:mr, :nc]


def _stationary_fold(stat: np.ndarray, stream: np.ndarray, rows: int, cols: int) -> tuple[int, np.ndarray]:
    """One ws/is fold. stat: [kr, nc] tile held in the PEs; stream: [T, kr] vectors entering the rows.

    Returns the busy cycles and out[T, nc] = stream @ stat, collected at the bottom edge.
    """
    kr, nc = stat.shape
    T = stream.shape[0]
    dtype = np.result_type(stat, stream)
    stat_pad = np.zeros((rows, cols), stat.dtype)
    stat_pad[:kr, :nc] = stat
    weights = np.zeros((rows, cols), stat.dtype)
    t = 0
    for r in range(rows - 1, -1, -1):             # preload: shift down, last row enters first
        weights[1:] = weights[:-1].copy()
        weights[0] = stat_pad[r]
        t += 1
    assert (weights == stat_pad).all()
    s_pad = np.zeros((T, rows), stream.dtype)
    s_pad[:, :kr] = stream
    x_reg = np.zeros((rows, cols), stream.dtype)
    x_idx = np.full((rows, cols), -1)             # which streamed vector the register holds (-1: none)
    psum = np.zeros((rows, cols), dtype)
    p_idx = np.full((rows, cols), -1)
    out = np.zeros((T, cols), dtype)
    drained = 0
    r_idx = np.arange(rows)
    start = t
    while drained < T * cols:
        x_reg[:, 1:], x_idx[:, 1:] = x_reg[:, :-1].copy(), x_idx[:, :-1].copy()
        m = t - start - r_idx                     # row r receives vector m with an r-cycle skew
        valid = (m >= 0) & (m < T)
        x_idx[:, 0] = np.where(valid, m, -1)
        x_reg[:, 0] = np.where(valid, s_pad[np.clip(m, 0, T - 1), r_idx], 0)
        above = np.vstack([np.zeros((1, cols), dtype), psum[:-1]])
        above_idx = np.vstack([x_idx[:1], p_idx[:-1]])    # row 0 starts a fresh partial sum
        assert ((x_idx < 0) | (above_idx == x_idx)).all(), "operand and partial sum out of step"
        psum = np.where(x_idx >= 0, above + x_reg * weights, 0)
        p_idx = x_idx.copy()
        done = p_idx[-1] >= 0                     # partial sums leaving the bottom edge
        out[p_idx[-1][done], np.flatnonzero(done)] = psum[-1][done]
        drained += int(done.sum())
        t += 1
    return t, out[:, :nc]


def simulate(rows: int, cols: int, dataflow: str, A: np.ndarray, B: np.ndarray) -> RefResult:
    """Run ``A @ B`` (A: [M, K] ifmap, B: [K, N] filter) through the array, cycle by cycle."""
    M, K = A.shape
    N = B.shape[1]
    out = np.zeros((M, N), np.result_type(A, B))
    cycles = reads_i = reads_f = writes = 0
    if dataflow == "vector":
        for m in range(M):
            for n0 in range(0, N, cols):
                acc = np.zeros(min(cols, N - n0), out.dtype)
                for k0 in range(0, K, rows):
                    x = A[m, k0:k0 + rows]
                    w = B[k0:k0 + rows, n0:n0 + cols]
                    acc += x @ w
                    reads_i += x.size
                    reads_f += w.size
                    cycles += 1
                out[m, n0:n0 + cols] = acc
                writes += acc.size
        return RefResult(cycles + vector_fill_cycles(rows), reads_i, reads_f, writes, out)
    if dataflow == "os":
        for n0 in range(0, N, cols):
            for m0 in range(0, M, rows):
                a, b = A[m0:m0 + rows], B[:, n0:n0 + cols]
                c, o = _os_fold(a, b, rows, cols)
                out[m0:m0 + rows, n0:n0 + cols] = o
                cycles += c
                reads_i += a.size
                reads_f += b.size
                writes += o.size
    elif dataflow == "ws":
        for n0 in range(0, N, cols):
            for k0 in range(0, K, rows):
                w, x = B[k0:k0 + rows, n0:n0 + cols], A[:, k0:k0 + rows]
                c, o = _stationary_fold(w, x, rows, cols)
                out[:, n0:n0 + cols] += o
                cycles += c
                reads_f += w.size
                reads_i += x.size
                writes += o.size
    elif dataflow == "is":
        for m0 in range(0, M, cols):
            for k0 in range(0, K, rows):
                x, w = A[m0:m0 + cols, k0:k0 + rows].T, B[k0:k0 + rows].T
                c, o = _stationary_fold(x, w, rows, cols)
                out[m0:m0 + cols] += o.T
                cycles += c
                reads_i += x.size
                reads_f += w.size
                writes += o.size
    else:
        raise ValueError(f"unknown dataflow {dataflow!r}")
    return RefResult(cycles, reads_i, reads_f, writes, out)
