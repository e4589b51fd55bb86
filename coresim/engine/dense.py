"""The many-core chip with dense (clock-driven) cores: mapping strategies -> Placement, ChipSimulator."""

from __future__ import annotations

import numpy as np

from coresim.engine.backend import Backend, Mapped, Prepared, register
from coresim.engine.simulator import ChipSimulator
from coresim.engine.timing import Declined, TimedChip
from coresim.mapping import map_workload
from coresim.mapping.memory import DoesNotFit
from coresim.mapping.placement import Placement
from coresim.spec.chip import ChipSpec
from coresim.spec.run import RunOptions
from coresim.trace.record import SimTrace
from coresim.workload.graph import Network


@register
class DenseBackend(Backend):
    """Tasks (layer slices) on cores, simpy control and the cycle-level NoC kernel (coresim.engine.simulator)."""

    kind = "dense"
    priority = 100  # the fallback
    partitions = True

    @classmethod
    def claims(cls, chip: ChipSpec, opts: RunOptions) -> bool:
        return True  # the default: any chip no more specific backend claims

    def map(self, net: Network, source: str, timesteps: int) -> Mapped:
        o = self.opts
        try:
            placement = self.map_part(net, source)
        except DoesNotFit as exc:
            if o.partition == "auto":
                raise  # Partitioned cuts the network
            raise _with_partition_hint(self.chip, net, (o.mapping, o.alloc, o.schedule), exc) from None
        return Mapped(o.model_copy(update={"partition": None}), placement)

    def map_part(self, net: Network, source: str, memo: dict | None = None) -> Placement:
        o = self.opts
        return map_workload(self.chip, net, o.mapping, source, o.alloc, o.schedule, memo)

    def simulate_part(self, placement: Placement, sources: dict[str, np.ndarray], exports: dict[str, str],
                      progress=None, packet_records: bool = True) -> SimTrace:
        return run_chip(self.chip, placement, sources, progress=progress, schedule=self.opts.schedule,
                        exports=exports, packet_records=packet_records)

    def simulate(self, prep: Prepared, progress=None, packet_records: bool = True) -> SimTrace:
        return run_chip(prep.chip, prep.placement, prep.inputs, progress=progress, schedule=prep.options.schedule,
                        cutoff=prep.cutoff, packet_records=packet_records)


def run_chip(chip: ChipSpec, placement: Placement, inputs, **kw) -> SimTrace:
    """The chip run by the compiled timing loop where it models the run (`coresim.engine.timing`), else by the
    data-carrying engine (the same cycles, tests compare them)."""
    try:
        return TimedChip(chip, placement, inputs, **kw).run()
    except Declined:
        return ChipSimulator(chip, placement, inputs, **kw).run()


def _with_partition_hint(chip: ChipSpec, net: Network, how: tuple[str, str, str], exc: DoesNotFit) -> DoesNotFit:
    """The error, with a pointer to --partition auto where partitioned execution could run the network
    (`how`: mapping, alloc, schedule)."""
    from coresim.engine.partition import may_fit_in_partitions

    if not may_fit_in_partitions(chip, net, *how):
        return exc
    return DoesNotFit(exc.file, exc.field, exc.reason + " (--partition auto runs it in partitions)")
