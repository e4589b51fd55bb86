"""Closed-form timing of a core's MAC array on one GEMM (O(1) per call, no loop over M, N or K).

A GEMM is ``ofmap[M, N] = ifmap[M, K] @ filter[K, N]``; a conv layer is lowered to one by `conv_gemm_shape`
(M = output pixels, N = filters, K = filter height x width x channels).

Systolic dataflows (array of ``rows`` x ``cols`` PEs; the mechanism SCALE-Sim models). Each dataflow maps two
GEMM dimensions onto the array (spatial ``Sr`` on rows, ``Sc`` on columns) and streams the third (``T``) in time:

========  ===  ===  ===  ==========================================
dataflow  Sr   Sc   T    cycles per fold
========  ===  ===  ===  ==========================================
os        M    N    K    T + rows + cols - 2      (skew fill + drain)
ws        K    N    M    2*rows + cols + T - 2    (rows-cycle weight preload, skew fill, psum drain)
is        K    M    N    2*rows + cols + T - 2    (same machine, the ifmap tile is stationary)
========  ===  ===  ===  ==========================================

A layer larger than the array is cut into ``ceil(Sr/rows) * ceil(Sc/cols)`` folds run one after another; fill,
drain and preload are paid on every fold and a partly used fold takes as long as a full one (operands still
cross the whole array). ``compute_cycles`` is the number of cycles the array is busy, counted from 1: it equals
SCALE-Sim's "Total Cycles" + 1, because SCALE-Sim reports the index of the last cycle counted from 0.

SRAM traffic in operand words, as SCALE-Sim counts it (each fold reads its operand tiles once):

- os: ifmap M*K*ceil(N/cols), filter K*N*ceil(M/rows); ofmap M*N + folds*(rows+cols). The extra
  ``rows+cols`` per fold is a SCALE-Sim quirk reproduced on purpose (it adds the shape of the padded output
  tile to its write count); the outputs actually written are M*N.
- ws: ifmap M*K*ceil(N/cols), filter K*N (each weight preloaded once), ofmap M*N*ceil(K/rows) (partial sums
  written once per reduction fold).
- is: ifmap M*K, filter K*N*ceil(M/cols), ofmap M*N*ceil(K/rows).

``vector`` (TianjicX-style, no systolic skew): each cycle the array multiplies ``rows`` input elements of one
output pixel by a ``rows`` x ``cols`` weight block into ``cols`` accumulators. Loop order: pixel, output-channel
group, input chunk, so compute_cycles = M*ceil(N/cols)*ceil(K/rows) + fill, with a pipeline fill of
``1 + ceil(log2(rows))`` cycles (one multiply stage plus the adder tree reducing ``rows`` products), paid once
per layer. Reads: ifmap M*K*ceil(N/cols) (the input vector is re-read per channel group), filter M*K*N (no
weight reuse across pixels); writes: ofmap M*N.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from coresim.errors import SpecError
from coresim.spec.chip import MacSpec
from coresim.util import cdiv

DATAFLOWS = ("vector", "os", "ws", "is")


@dataclass(frozen=True)
class MacTiming:
    compute_cycles: int          # cycles the array is busy (SCALE-Sim "Total Cycles" + 1 for os/ws/is)
    macs: int                    # M*N*K useful MACs
    utilization: float           # macs / (compute_cycles * rows * cols)
    mapping_efficiency: float    # mean over folds of the fraction of PEs holding a mapped element
    folds: int
    sram_reads: dict[str, int]   # {"ifmap": .., "filter": ..} in operand words
    sram_writes: dict[str, int]  # {"ofmap": ..} in output (partial-sum) words

    @property
    def scalesim_total_cycles(self) -> int:
        """The same duration in SCALE-Sim's convention (index of the last busy cycle)."""
        return self.compute_cycles - 1


def _integer(field: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SpecError(None, field, f"must be an integer >= {minimum}, got {value!r}")
    return int(value)


def vector_fill_cycles(rows: int) -> int:
    """Pipeline fill of the vector array: a multiply stage plus an adder tree over `rows` products."""
    return 1 + (rows - 1).bit_length()


def gemm_timing(rows: int, cols: int, dataflow: str, M: int, N: int, K: int) -> MacTiming:
    """Timing and SRAM traffic of ``[M,K] @ [K,N]`` on a ``rows`` x ``cols`` array with `dataflow`."""
    rows, cols, M, N, K = (_integer(n, v) for n, v in (("rows", rows), ("cols", cols), ("M", M), ("N", N), ("K", K)))
    macs = M * N * K
    if dataflow == "vector":
        groups, chunks = cdiv(N, cols), cdiv(K, rows)
        folds = groups * chunks
        cycles = M * folds + vector_fill_cycles(rows)
        reads = {"ifmap": M * K * groups, "filter": M * K * N}
        writes = {"ofmap": M * N}
        mapping = (N * K) / (folds * rows * cols)
    elif dataflow in ("os", "ws", "is"):
        sr, sc, t = {"os": (M, N, K), "ws": (K, N, M), "is": (K, M, N)}[dataflow]
        row_folds, col_folds = cdiv(sr, rows), cdiv(sc, cols)
        folds = row_folds * col_folds
        per_fold = t + rows + cols - 2 if dataflow == "os" else 2 * rows + cols + t - 2
        cycles = folds * per_fold
        mapping = (sr * sc) / (folds * rows * cols)
        if dataflow == "os":
            reads = {"ifmap": M * K * col_folds, "filter": K * N * row_folds}
            writes = {"ofmap": M * N + folds * (rows + cols)}
        elif dataflow == "ws":
            reads = {"ifmap": M * K * col_folds, "filter": K * N}
            writes = {"ofmap": M * N * row_folds}
        else:
            reads = {"ifmap": M * K, "filter": K * N * col_folds}
            writes = {"ofmap": M * N * row_folds}
    else:
        raise SpecError(None, "dataflow", f"unknown dataflow {dataflow!r} (expected one of {', '.join(DATAFLOWS)})")
    return MacTiming(compute_cycles=cycles, macs=macs, utilization=macs / (cycles * rows * cols),
                     mapping_efficiency=mapping, folds=folds, sram_reads=reads, sram_writes=writes)


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, ceil_mode: bool = False) -> int:
    """Output length along one axis: ``floor((size + 2*padding - kernel) / stride) + 1``.

    ``ceil_mode`` rounds up instead, which is SCALE-Sim's convention (``ceil((H - R + stride) / stride)``).
    """
    span = size + 2 * padding - kernel
    if span < 0:
        raise SpecError(None, "conv", f"filter ({kernel}) larger than the padded input ({size + 2 * padding})")
    return (cdiv(span, stride) if ceil_mode else span // stride) + 1


def conv_gemm_shape(H: int, W: int, R: int, S: int, C: int, F: int, stride: int = 1, padding: int = 0,
                    ceil_mode: bool = False) -> tuple[int, int, int]:
    """(M, N, K) of a conv layer lowered to GEMM: input H x W x C, F filters of R x S x C, square stride/padding."""
    H, W, R, S, C, F, stride = (_integer(n, v) for n, v in (("H", H), ("W", W), ("R", R), ("S", S), ("C", C),
                                                            ("F", F), ("stride", stride)))
    padding = _integer("padding", padding, minimum=0)
    E = conv_output_size(H, R, stride, padding, ceil_mode)
    Fw = conv_output_size(W, S, stride, padding, ceil_mode)
    return E * Fw, F, R * S * C


def mac_timing(mac: MacSpec, M: int, N: int, K: int) -> MacTiming:
    """`gemm_timing` on the array described by a chip spec's `MacSpec`."""
    return gemm_timing(mac.rows, mac.cols, mac.dataflow, M, N, K)
