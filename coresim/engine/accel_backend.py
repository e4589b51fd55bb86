"""The dataflow accelerator (a chip with an `accelerator:` section, or any chip run with --dataflow)."""

from __future__ import annotations

from coresim.engine.backend import Backend, Mapped, Prepared, register
from coresim.spec.chip import ChipSpec
from coresim.spec.run import RunOptions
from coresim.workload.graph import Network


@register
class AcceleratorBackend(Backend):
    """Layers streamed through one PE array with on-chip buffers (coresim.accel); no mesh placement."""

    kind = "accelerator"
    priority = 10  # before the event backend: --dataflow runs an event-driven chip's network on the accelerator
    shows_progress = False

    @classmethod
    def claims(cls, chip: ChipSpec, opts: RunOptions) -> bool:
        return opts.dataflow is not None or chip.accelerator is not None

    def map(self, net: Network, source: str, timesteps: int) -> Mapped:
        from coresim.accel.dataflow import Accelerator

        options = self.opts.model_copy(update={"dataflow": self.opts.dataflow or "line_grouped"})
        Accelerator(self.chip, net, options.dataflow, timesteps, source)  # checks the dataflow and BRAM capacity
        return Mapped(options)

    def simulate(self, prep: Prepared, progress=None, packet_records: bool = True):  # no packet records
        """The accelerator's own record (coresim.accel.dataflow.AccelResult), summarised by `summarize`."""
        from coresim.accel.simulator import simulate_accelerator
        return simulate_accelerator(prep.chip, prep.net, prep.dataflow, prep.inputs)

    @staticmethod
    def summarize(prep: Prepared, res) -> dict:
        from coresim.accel.simulator import accelerator_summary
        return accelerator_summary(prep.chip, prep.net, prep.dataflow, prep.inputs, prep.labels, res)
