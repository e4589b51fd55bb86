"""The engine interface: one backend per kind of hardware, chosen from the chip spec in one place.

A backend maps a network onto its hardware (`map -> Mapped`, whose `placement` is the Placement) and runs a
prepared workload there (`simulate -> SimTrace`). Backends register themselves (`@register`) in the modules
listed in BACKEND_MODULES; `backend_for` imports those and asks each registered class, lowest `priority`
first, whether it `claims` the chip and options (Ramulator 2's registry of implementations, in Python). Partitioned
execution (coresim.engine.partition.Partitioned) wraps a backend whose class sets `partitions = True`.
Adding a kind of chip: see docs/architecture.md.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from coresim.errors import SpecError
from coresim.mapping import STRATEGIES
from coresim.mapping.placement import Placement
from coresim.spec.chip import ChipSpec
from coresim.spec.run import RunOptions
from coresim.trace.record import SimTrace
from coresim.workload.graph import Network

BACKEND_MODULES = ("coresim.engine.accel_backend", "coresim.engine.event_backend", "coresim.engine.dense")
_REGISTRY: list[type[Backend]] = []


class EventMapping(NamedTuple):
    """An event-driven chip's mapping: fan-out stores by layer, neuron chunks on cores, their Placement."""

    stores: dict
    chunks: list
    placement: Placement
    inputs: list = []  # chunks of input neurons on cores (core.event.input_source: cores), layer "input"


@dataclass(frozen=True)
class Mapped:
    """What a backend's map step produced, and the run options as the backend runs them."""

    options: RunOptions
    placement: Placement | None = None       # tasks on cores (None: the accelerator has no mesh placement)
    partitions: list | None = None           # engine.partition.Partition list when the network runs in parts
    events: EventMapping | None = None       # event-driven chips


@dataclass
class Prepared:
    chip: ChipSpec
    net: Network
    placement: Placement | None
    inputs: np.ndarray          # (S, T, *input_shape)
    labels: np.ndarray | None
    seed: int
    config: dict[str, Any]      # canonical configs
    config_sha256: str
    partitions: list | None = None  # engine.partition.Partition list when the network runs in partitions
    cutoff: Any = None              # analysis.cutoff.TopKCutoff when samples may exit early
    dataflow: str | None = None     # accelerator dataflow (coresim.accel): the run skips the mesh engine
    events: EventMapping | None = None  # on an event-driven chip (coresim.engine.event)
    options: RunOptions = field(default_factory=RunOptions)
    backend: Backend | None = None  # the backend that mapped it and simulates it


class Backend:
    """One kind of hardware. Subclasses set `kind`, implement `claims`, `map` and `simulate`."""

    kind: ClassVar[str] = ""
    priority: ClassVar[int] = 50             # backend_for asks lower numbers first; the dense chip (100) is last
    partitions: ClassVar[bool] = False      # Partitioned may wrap it (a network larger than the chip)
    shows_progress: ClassVar[bool] = True   # simulate() calls `progress` once per (sample, timestep)

    def __init__(self, chip: ChipSpec, opts: RunOptions):
        self.chip, self.opts = chip, opts

    @classmethod
    def claims(cls, chip: ChipSpec, opts: RunOptions) -> bool:
        raise NotImplementedError

    def check_options(self) -> None:
        """Bad options for this hardware, found before anything is loaded or mapped."""
        mapping = self.opts.mapping
        if mapping not in STRATEGIES and not (mapping.startswith("file:") and len(mapping) > len("file:")):
            choices = ", ".join(STRATEGIES) + " or file:PATH"
            raise SpecError(None, "--mapping", f"unknown strategy {mapping!r}; one of {choices}")
        if self.opts.noc_model is not None and self.chip.core.synapse_mode != "event":
            raise SpecError(None, "--noc-model", "only event-driven chips (core.synapse_mode: event) take a NoC model")

    def map(self, net: Network, source: str, timesteps: int) -> Mapped:
        raise NotImplementedError

    def finish(self, prep: Prepared) -> None:
        """After the run's configuration is hashed (the weights as loaded): last touches to the prepared run."""

    def simulate(self, prep: Prepared, progress=None, packet_records: bool = True) -> SimTrace:
        """Run `prep` (never changing it); `progress`: optional callable, called once per simulated step.
        `packet_records`: keep a PACKET record per delivery; False (no trace asked for) lets a backend that can
        keep only what the summary reads of them (the trace's `packets` None, counters `deliveries` and
        `delivery_latency_sum`); one that cannot keeps them."""
        raise NotImplementedError

    summarize = None  # optional (prep, trace) -> summary, for traces that are no SimTrace (the accelerator)

    # ---- for Partitioned (classes with `partitions = True`) ----------------------------------------------------
    def map_part(self, net: Network, source: str, memo: dict | None = None) -> Placement:
        """Map a subnetwork (one partition); raises mapping.memory.DoesNotFit when it does not fit. `memo`: a dict
        the mapping may keep costs in between the mappings of one plan (one chip, subnetworks of one network)."""
        raise NotImplementedError

    def simulate_part(self, placement: Placement, sources: dict[str, np.ndarray], exports: dict[str, str],
                      progress=None, packet_records: bool = True) -> SimTrace:
        """Run one partition: `sources` are its off-chip inputs by name, `exports` its outputs leaving the chip
        (layer -> "host" | "dram"); `packet_records` as `simulate`'s."""
        raise NotImplementedError


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available to `backend_for`."""
    if cls not in _REGISTRY:
        _REGISTRY.append(cls)
    return cls


def backend_for(chip: ChipSpec, opts: RunOptions) -> Backend:
    """The backend that runs `chip` with `opts`: the registered one of lowest priority that claims it."""
    for name in BACKEND_MODULES:
        importlib.import_module(name)
    for cls in sorted(_REGISTRY, key=lambda c: c.priority):
        if cls.claims(chip, opts):
            return cls(chip, opts)
    raise SpecError(None, "chip", f"no engine backend runs chip {chip.name!r}")
