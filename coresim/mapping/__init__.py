"""Mapping strategies: a workload and a chip -> a Placement (tasks on cores, SRAM buffers, routes)."""

from __future__ import annotations

from coresim.errors import SpecError
from coresim.mapping.layerwise import map_layerwise
from coresim.mapping.placement import Placement
from coresim.spec.chip import ChipSpec
from coresim.workload.graph import Network

STRATEGIES = {"layerwise": map_layerwise}


def map_workload(chip: ChipSpec, net: Network, strategy: str = "layerwise", source: str | None = None) -> Placement:
    try:
        fn = STRATEGIES[strategy]
    except KeyError:
        raise SpecError(None, "--mapping", f"unknown strategy {strategy!r}; one of {sorted(STRATEGIES)}") from None
    return fn(chip, net, source)
