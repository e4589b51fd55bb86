"""Chip specification: what the hardware is (no behaviour). Units are in the field names."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from coresim.spec.accel import AcceleratorSpec
from coresim.spec.base import Spec
from coresim.util import cdiv

# A router's output ports are bits of one int64 mask (coresim/noc/flit_state.py): 4 mesh ports, then one ejection
# port per local core, below bit 62.
MAX_CORES_PER_TILE = 58
# A flit's index within its packet takes 16 bits of a flit code (coresim/noc/flit_state.py, FSH).
MAX_PACKET_FLITS = 2 ** 16 - 1


class MeshSpec(Spec):
    """The W x H grid of tiles; each tile has one router and `cores_per_tile` cores."""

    width: int = Field(gt=0, description="tiles along X")
    height: int = Field(gt=0, description="tiles along Y")
    cores_per_tile: int = Field(1, gt=0, le=MAX_CORES_PER_TILE,
                                description="cores attached to each router (concentration; a router has 4 + "
                                            f"this many ports, at most {4 + MAX_CORES_PER_TILE})")


class MacSpec(Spec):
    """The synaptic MAC array of a core."""

    rows: int = Field(gt=0, description="input elements reduced per cycle (vector) / array height (systolic)")
    cols: int = Field(gt=0, description="output channels per cycle (vector) / array width (systolic)")
    dataflow: Literal["vector", "os", "ws", "is"] = "vector"
    weight_bits: int = Field(8, gt=0, le=32)
    acc_bits: int = Field(32, gt=0, le=64)


class NeuronUnitSpec(Spec):
    """The soma unit: updates neuron state after synaptic accumulation."""

    lanes: int = Field(gt=0, description="neurons updated per cycle")
    update_cycles: int = Field(1, gt=0, description="pipeline cycles per group of `lanes` neurons")
    state_bits: int = Field(32, gt=0, le=64, description="bits of membrane state per neuron")


class SramSpec(Spec):
    """Core-local SRAM: equal banks holding weights, neuron state and buffers."""

    banks: int = Field(gt=0)
    bank_kib: float = Field(gt=0, description="capacity of each bank in KiB")
    width_bytes_per_cycle: int = Field(gt=0, description="bytes one bank port moves per cycle")
    latency_cycles: int = Field(1, ge=0, description="access latency added once per phase")
    ports: int = Field(1, gt=0, description="ports per bank")

    @property
    def size_bytes(self) -> int:
        return int(self.banks * self.bank_kib * 1024)


class EventCoreSpec(Spec):
    """An event-driven core (Loihi, SpiNNaker, TrueNorth style): work per incoming spike, not per timestep."""

    max_neurons: int = Field(1024, gt=0, description="neurons one core holds")
    synapse_bits: int = Field(16, gt=0, le=64, description="bits of one fan-out row entry (weight + target index)")
    weight_bits: int = Field(8, gt=0, le=32, description="signed bits of a synaptic weight in a fan-out entry")
    synapse_lanes: int = Field(1, gt=0, description="synaptic accumulations into the dendrite state per cycle")
    packet_decode_cycles: int = Field(1, ge=0, description="cycles to decode one incoming packet")
    spike_in_cycles: int = Field(1, ge=0, description="cycles per incoming spike: axon-in lookup of its fan-out row")
    spike_out_cycles: int = Field(1, ge=0, description="cycles per axon-table entry: one message per destination "
                                                      "core of an outgoing spike")
    neuron_updates: Literal["all", "touched"] = Field(
        "all", description="all: every neuron updated each timestep; touched: only those with input or state")
    input_source: Literal["host", "cores"] = Field(
        "host", description="where the network's input spikes enter: host - messages from the host port straight "
                            "into the consumers' receive buffers; cores - input neurons on cores (the placement "
                            "file's `input.cores`, else the free cores nearest their targets) with no soma cost, "
                            "sending ordinary messages over the NoC")
    # Per-action latencies of the concurrent schedule in ns (converted at the chip clock, rounded on each core's
    # running total). None: from the cycle fields above (update_cycles / lanes, spike_out_cycles, spike_in_cycles,
    # the synapse lanes and SRAM width).
    neuron_access_latency_ns: float | None = Field(None, ge=0, description="soma: every neuron visited in a step")
    neuron_update_latency_ns: float | None = Field(None, ge=0, description="soma: extra for a neuron with input or "
                                                                           "state (active)")
    spike_latency_ns: float | None = Field(None, ge=0, description="soma: extra for a neuron that fires")
    message_out_latency_ns: float | None = Field(None, ge=0, description="axon out: one message formed")
    message_in_latency_ns: float | None = Field(None, ge=0, description="axon in: one message received")
    synapse_latency_ns: dict[Literal["dense", "sparse", "conv"], float] | None = Field(
        None, description="one synaptic event per synapse kind (dense / sparse linear layers, conv layers)")


class CoreSpec(Spec):
    mac: MacSpec
    neuron: NeuronUnitSpec
    sram: SramSpec
    receive_buffer_kib: float = Field(gt=0, description="router receive buffer (separate from sram banks): a full "
                                                        "one stalls ejection (credits upstream); dense cores drain "
                                                        "it one flit a cycle into SRAM in cycles the task leaves "
                                                        "the ports free; also a limit of event cores' concurrent "
                                                        "schedule")
    send_buffer_flits: int = Field(gt=0, description="send queue towards the router: a packet is made once it has "
                                                     "room; waiting for room stalls the neuron unit (the task); "
                                                     "also a limit of event cores' concurrent schedule")
    synapse_mode: Literal["dense", "event"] = Field(
        "dense", description="dense: clock-driven synaptic ops every timestep on the MAC array; event: per incoming "
                             "spike, fan-out rows read from SRAM (see `event`)")
    event: EventCoreSpec = Field(default_factory=lambda: EventCoreSpec(), description="event-driven core "
                                                                                     "parameters (synapse_mode: event)")
    phase_overhead_cycles: int = Field(0, ge=0, description="fixed cycles to start a core phase")


class RouterSpec(Spec):
    """Input-queued virtual-channel router (BookSim2 `iq` router parameters)."""

    vcs: int = Field(1, gt=0, description="virtual channels per input port")
    buffer_flits: int = Field(8, gt=0, description="flits of buffer per VC")
    routing_delay_cycles: int = Field(1, ge=0)
    vc_alloc_delay_cycles: int = Field(1, ge=0)
    sw_alloc_delay_cycles: int = Field(1, ge=0)
    st_delay_cycles: int = Field(1, ge=0, description="switch traversal")
    credit_delay_cycles: int = Field(0, ge=0)


class NocSpec(Spec):
    router: RouterSpec = RouterSpec()
    routing: Literal["xy", "yx"] = "xy"
    link_latency_cycles: int = Field(1, gt=0, description="flit and credit channel latency per hop")
    hop_latency_cycles: int | None = Field(
        None, gt=0, description="event chips' buffered NoC (concurrent schedule): cycles a packet's head takes per "
                                "router on an idle path, router and link together (a chip whose mesh hop is faster "
                                "than a pipelined router); None: the router pipeline (RC + VA + SA + ST) plus "
                                "link_latency_cycles")
    physical_networks: int = Field(
        1, ge=1, le=4, description="event chips' buffered NoC (concurrent schedule): independent physical meshes, "
                                   "each with its own routers, links and FIFOs; a core's spike messages alternate "
                                   "over them (message j of a timestep on network j mod n) and every network ejects "
                                   "into the same receive buffer")
    flit_bytes: int = Field(8, gt=0)
    packet_payload_bytes: int = Field(8, gt=0, description="payload bytes carried by one packet")
    header_flits: int = Field(1, ge=0, description="header flits per packet (0: header rides in the payload flit)")
    spike_bytes: int = Field(2, gt=0, description="bytes per spike address (AER) in a payload")
    multicast: bool = Field(True, description="one packet to every core that needs the same spikes, replicated "
                                              "where the XY paths diverge; false: one unicast per core")

    @model_validator(mode="after")
    def _packet_fits(self) -> NocSpec:
        if self.packet_flits > MAX_PACKET_FLITS:
            raise ValueError(f"header_flits + packet_payload_bytes / flit_bytes make {self.packet_flits}-flit packets; "
                             f"at most {MAX_PACKET_FLITS}")
        return self

    @property
    def spikes_per_packet(self) -> int:
        return max(1, self.packet_payload_bytes // self.spike_bytes)

    @property
    def payload_flits(self) -> int:
        return cdiv(self.packet_payload_bytes, self.flit_bytes)

    @property
    def packet_flits(self) -> int:
        return self.header_flits + self.payload_flits


class HostSpec(Spec):
    """Host/DRAM port on the mesh edge that delivers inputs and collects outputs."""

    bytes_per_cycle: int = Field(16, gt=0)
    latency_cycles: int = Field(100, ge=0)


class DramSpec(Spec):
    """Off-chip memory on the mesh edge: holds partitions' weights and the spikes crossing partition cuts."""

    bytes_per_cycle: int = Field(16, gt=0)
    latency_cycles: int = Field(200, ge=0)
    energy_pj_per_byte: float = Field(20.0, ge=0)


class EnergySpec(Spec):
    """Energy per counted action, in picojoules."""

    mac_pj: float = Field(ge=0)
    sram_read_pj_per_bit: float = Field(ge=0)
    sram_write_pj_per_bit: float = Field(ge=0)
    neuron_update_pj: float = Field(ge=0)
    flit_hop_pj: float = Field(ge=0, description="router traversal + link, per flit per hop")
    leakage_pj_per_core_cycle: float = Field(ge=0)
    host_pj_per_byte: float = Field(0.0, ge=0)
    synaptic_event_pj: float = Field(0.0, ge=0, description="event mode: one synaptic accumulation")
    spike_in_pj: float = Field(0.0, ge=0, description="event mode: decoding one incoming spike (axon in)")
    spike_out_pj: float = Field(0.0, ge=0, description="event mode: one outgoing message (axon out)")
    host_message_pj: float = Field(0.0, ge=0, description="event mode: one input message from the host (charged "
                                                          "as a message)")
    spike_pj: float = Field(0.0, ge=0, description="event mode: one neuron firing (soma spike out)")
    neuron_idle_pj: float | None = Field(None, ge=0, description="event mode: a neuron visited with no input and no "
                                                                 "state (None: neuron_update_pj)")
    synapse_pj: dict[Literal["dense", "sparse", "conv"], float] | None = Field(
        None, description="event mode: one synaptic event per synapse kind (missing kinds: synaptic_event_pj)")
    hop_x_pj: float | None = Field(None, ge=0, description="event mode: one flit over an E/W link (with hop_y_pj "
                                                           "instead of flit_hop_pj; ejection free)")
    hop_y_pj: float | None = Field(None, ge=0, description="event mode: one flit over a N/S link")


class TimingSpec(Spec):
    barrier_cycles: int = Field(10, ge=0, description="cycles to synchronise all cores at a timestep end")
    sync_ns_by_tiles: dict[int, float] | None = Field(
        None, description="event cores, concurrent schedule: timestep sync latency by tiles in use (the entry with "
                          "the largest key <= tiles used; None: barrier_cycles)")


class ChipSpec(Spec):
    name: str
    description: str = ""
    clock_mhz: float = Field(gt=0)
    mesh: MeshSpec
    core: CoreSpec
    noc: NocSpec = NocSpec()
    host: HostSpec = HostSpec()
    dram: DramSpec = DramSpec()
    energy: EnergySpec
    timing: TimingSpec = TimingSpec()
    accelerator: AcceleratorSpec | None = Field(None, description="a dataflow accelerator (coresim.accel): runs "
                                                                 "go to its simulator instead of the mesh")

    @property
    def n_cores(self) -> int:
        return self.mesh.width * self.mesh.height * self.mesh.cores_per_tile
