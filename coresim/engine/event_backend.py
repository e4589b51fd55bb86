"""Event-driven cores (`core.synapse_mode: event`): fan-out stores and neuron chunks, EventSimulator."""

from __future__ import annotations

from coresim.engine.backend import Backend, EventMapping, Mapped, Prepared, register
from coresim.errors import SpecError
from coresim.spec.chip import ChipSpec
from coresim.spec.run import RunOptions
from coresim.trace.record import INTERVAL, PACKET, SimTrace, records
from coresim.workload.graph import Network


@register
class EventBackend(Backend):
    """Work per spike (coresim.engine.event); every core concurrently within a timestep (--schedule barrier, one
    sync per timestep) or lockstep phases per population; the whole network on the chip."""

    kind = "event"
    priority = 20

    @classmethod
    def claims(cls, chip: ChipSpec, opts: RunOptions) -> bool:
        return chip.core.synapse_mode == "event" and opts.dataflow is None and chip.accelerator is None

    def map(self, net: Network, source: str, timesteps: int) -> Mapped:
        o = self.opts
        events = EventMapping(*_map_events(self.chip, net, o.mapping, o.schedule, o.partition, o.cutoff, source,
                                           o.seed))
        from coresim.engine.event import event_noc_model
        options = o.model_copy(update={"partition": None, "cutoff": None,
                                       "noc_model": event_noc_model(_event_schedule(o.schedule), o.noc_model)})
        return Mapped(options, events.placement, events=events)

    def finish(self, prep: Prepared) -> None:
        from coresim.engine.event import share_weights
        share_weights(prep.net, prep.events.stores)  # a million-neuron layer's synapses are held once

    def simulate(self, prep: Prepared, progress=None, packet_records: bool = True) -> SimTrace:
        from coresim.engine.event import EventSimulator
        trace = EventSimulator(prep.chip, prep.net, prep.events.chunks, prep.events.stores, prep.inputs,
                               prep.options.noc_model, progress=progress,
                               schedule=_event_schedule(prep.options.schedule), input_chunks=prep.events.inputs,
                               packet_records=packet_records).run()
        trace.intervals = records(INTERVAL, trace.intervals)  # its tables, columns in the records' field order
        trace.packets = records(PACKET, trace.packets)
        return trace


def _map_events(chip: ChipSpec, net: Network, mapping: str, schedule: str, partition, cutoff, source: str,
                seed: int) -> tuple:
    """Fan-out stores, chunks, their Placement and the input neurons' chunks on an event-driven chip."""
    from coresim.engine.event import build_stores
    from coresim.mapping.event_inputs import input_chunks
    from coresim.mapping.events import event_placement, map_events, projections

    for flag, value, ok in (("--partition", partition, (None, "none", "auto")), ("--cutoff", cutoff, (None, "none")),
                            ("--schedule", schedule, ("barrier", "lockstep"))):
        if value not in ok:
            raise SpecError(None, flag, f"{value!r} is not supported on event-driven chips (they run the whole "
                                        "network on the chip, concurrently (barrier) or in lockstep layer phases)")
    projs = projections(net, source)
    chunks = map_events(chip, net, projs, mapping, source, seed)
    inputs = input_chunks(chip, net, projs, chunks, mapping)
    return build_stores(net, chunks, projs, inputs), chunks, event_placement(chip, net, chunks, mapping), inputs


def _event_schedule(schedule: str) -> str:
    """The event engine's schedule for a run's --schedule: lockstep, or concurrent (barrier)."""
    return "lockstep" if schedule == "lockstep" else "concurrent"
