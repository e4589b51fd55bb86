"""Mapping strategies: a workload and a chip -> a Placement (tasks on cores, SRAM buffers, routes).

`layerwise`, `density`, or `file:PATH` (a placement written by the user)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coresim.errors import SpecError

if TYPE_CHECKING:
    from coresim.mapping.placement import Placement
    from coresim.spec.chip import ChipSpec
    from coresim.workload.graph import Network

STRATEGIES = ("layerwise", "density")


def map_workload(chip: ChipSpec, net: Network, strategy: str = "layerwise", source: str | None = None,
                 alloc: str = "forward", schedule: str = "barrier", memo: dict | None = None) -> Placement:
    """`memo`: costs a strategy may keep between mappings of the same chip and network or its subnetworks (density:
    its split costs)."""
    from coresim.mapping.density import map_density
    from coresim.mapping.layerwise import map_layerwise
    from coresim.mapping.user_file import map_file
    from coresim.spec.files import locate

    if strategy.startswith("file:"):
        path = strategy[len("file:"):]
        return map_file(chip, net, str(locate(path) or path), source, alloc)
    if strategy == "layerwise":
        return map_layerwise(chip, net, source, alloc)
    if strategy == "density":
        return map_density(chip, net, source, alloc, schedule, memo)
    raise SpecError(None, "--mapping", f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)} or file:PATH")
