"""`coresim info CHIP`: describe a chip spec."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("chip", nargs="?", help="chip spec YAML (default: chipspecs/default.yaml)")
    p.add_argument("--json", action="store_true", help="print the validated spec as JSON")


def run(args: argparse.Namespace) -> int:
    from coresim.spec.files import load_chip

    c = load_chip(args.chip)
    if args.json:
        print(json.dumps(c.model_dump(mode="json"), indent=2, sort_keys=True))
        return 0
    core, noc, r = c.core, c.noc, c.noc.router
    lines = [
        f"{c.name}: {c.description}".rstrip(": "),
        f"  mesh        {c.mesh.width} x {c.mesh.height} tiles, {c.mesh.cores_per_tile} core(s) per tile "
        f"= {c.n_cores} cores at {c.clock_mhz:g} MHz",
        f"  MAC array   {core.mac.rows} x {core.mac.cols} {core.mac.dataflow}, {core.mac.weight_bits}-bit weights, "
        f"{core.mac.acc_bits}-bit accumulators",
        f"  neuron unit {core.neuron.lanes} lanes, {core.neuron.update_cycles} cycle(s) per update",
        f"  SRAM        {core.sram.banks} x {core.sram.bank_kib:g} KiB = {core.sram.size_bytes} B per core, "
        f"{core.sram.width_bytes_per_cycle} B/cycle per bank, {core.sram.latency_cycles}-cycle latency",
        f"  router      {r.vcs} VC x {r.buffer_flits} flits, delays RC {r.routing_delay_cycles} / VA "
        f"{r.vc_alloc_delay_cycles} / SA {r.sw_alloc_delay_cycles} / ST {r.st_delay_cycles}, "
        f"{noc.routing.upper()} routing, {noc.link_latency_cycles}-cycle links",
        f"  packets     {noc.flit_bytes} B flits, {noc.packet_payload_bytes} B payload "
        f"({noc.spikes_per_packet} spikes), {noc.header_flits} header flit(s)",
        f"  host        {c.host.bytes_per_cycle} B/cycle, {c.host.latency_cycles}-cycle latency",
    ]
    print("\n".join(lines))
    return 0
