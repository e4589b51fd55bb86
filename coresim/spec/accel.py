"""The `accelerator:` section of a chip spec (data only; behaviour in coresim.accel.dataflow)."""

from __future__ import annotations

from pydantic import Field

from coresim.spec.base import Spec


class AcceleratorSpec(Spec):
    """A channel-parallel PE array (`p_out` output x `p_in` input channels per cycle) with on-chip BRAMs."""

    p_out: int = Field(gt=0, description="output channels computed in parallel")
    p_in: int = Field(gt=0, description="input channels reduced in parallel")
    line_buffer_lines: int = Field(gt=0, description="input lines a layer's line buffer holds (>= kernel)")
    weight_bram_kib: float = Field(gt=0, description="BRAM for weights")
    fmap_bram_kib: float = Field(gt=0, description="BRAM for feature maps, line and skip buffers")
    state_bram_kib: float = Field(gt=0, description="BRAM for membrane state")
    pipeline_layers: bool = Field(True, description="true: every layer is a pipeline stage with its own "
                                                    "p_out x p_in engine, stages run concurrently line by line; "
                                                    "false: one p_out x p_in array runs the layers in turn")
    act_bits: int = Field(8, gt=0, le=32, description="bits of a non-spike activation (analog input, add sums)")

    @property
    def capacities(self) -> dict[str, int]:
        """Bytes of each BRAM."""
        return {k: int(getattr(self, f"{k}_bram_kib") * 1024) for k in ("weight", "fmap", "state")}
