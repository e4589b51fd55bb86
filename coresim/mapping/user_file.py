"""`--mapping file:PATH`: a placement written by the user, validated.

```yaml
layers:                      # every conv2d / linear layer, by name
  conv1:
    split: {channels: 2, rows: 1, in_channels: 1}   # optional, default 1 x 1 x 1
    cores: [0, 1]            # one core per block (channel-major, then rows), or one per task
  fc: {cores: [5]}
input: {cores: [6]}          # event-driven chips with core.event.input_source: cores only: the input neurons,
                             # cut into one near-equal contiguous chunk per listed core
```
Blocks split along input channels have `in_channels` partial tasks and a merge task; with one core per block
they all go on that core. Pooling, flatten and residual adds follow their producers' cores.
"""

from __future__ import annotations

from coresim.errors import SpecError
from coresim.mapping.blocks import add_followers, layer_blocks, renumber, shapes_of
from coresim.mapping.memory import allocate
from coresim.mapping.placement import Placement, Task, build_routes
from coresim.spec.base import Spec
from coresim.spec.chip import ChipSpec
from coresim.spec.load import read_yaml, validate
from coresim.workload.graph import Network


class SplitSpec(Spec):
    channels: int = 1
    rows: int = 1
    in_channels: int = 1


class LayerPlacement(Spec):
    split: SplitSpec = SplitSpec()
    cores: list[int]


class InputPlacement(Spec):
    cores: list[int]


class PlacementSpec(Spec):
    layers: dict[str, LayerPlacement]
    input: InputPlacement | None = None


def read_placement(path: str) -> PlacementSpec:
    """A placement file (`--mapping file:PATH`), checked."""
    return validate(PlacementSpec, read_yaml(path), path)


def map_file(chip: ChipSpec, net: Network, path: str, source: str | None = None, alloc: str = "forward") -> Placement:
    spec = read_placement(path)
    shapes = shapes_of(net)
    if spec.input is not None:
        raise SpecError(path, "input", "input neurons on cores are an event-driven chip's option "
                                       "(core.event.input_source: cores); this chip takes its input from the host")
    for name in spec.layers:
        if name not in net.by_name or not net.by_name[name].synaptic:
            raise SpecError(path, f"layers.{name}", "not a conv2d or linear layer of the workload")
    tasks: list[Task] = []
    for layer in net.layers:
        if not layer.synaptic:
            add_followers(tasks, layer, shapes)
            continue
        lp = spec.layers.get(layer.name)
        if lp is None:
            raise SpecError(path, f"layers.{layer.name}", "missing: every conv2d/linear layer needs a placement")
        sp = lp.split
        for field, value in (("channels", sp.channels), ("rows", sp.rows), ("in_channels", sp.in_channels)):
            if value < 1:
                raise SpecError(path, f"layers.{layer.name}.split.{field}", "must be at least 1")
        blocks = layer_blocks(layer, sp.channels, sp.rows, sp.in_channels, shapes, len(tasks))
        flat = [t for b in blocks for t in b]
        if len(lp.cores) == len(blocks):
            cores = [c for b, c in zip(blocks, lp.cores, strict=True) for _ in b]
        elif len(lp.cores) == len(flat):
            cores = lp.cores
        else:
            raise SpecError(path, f"layers.{layer.name}.cores",
                            f"{len(lp.cores)} cores given; the split makes {len(blocks)} blocks of "
                            f"{len(flat)} tasks: give one core per block or per task")
        for t, c in zip(flat, cores, strict=True):
            if not 0 <= c < chip.n_cores:
                raise SpecError(path, f"layers.{layer.name}.cores", f"core {c} is not on the chip "
                                                                     f"(0..{chip.n_cores - 1})")
            t.core = c
            tasks.append(t)
    renumber(tasks)
    placement = Placement("file", net, chip.n_cores, tasks, build_routes(tasks))
    allocate(chip, placement, alloc, path)
    return placement
