"""`coresim gen random --neurons N --fanout F --rate R --timesteps T --seed S -o FILE.yaml`: generate a workload.

Writes FILE.yaml and its weights FILE.npz (named in `weights:`) atomically: both are written to temporary files
beside their targets and renamed only when complete, the npz first, so no half-written file is ever visible.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from coresim.atomic import atomic_path
from coresim.errors import SpecError


def add_arguments(p: argparse.ArgumentParser) -> None:
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    r = kinds.add_parser("random", help="random recurrent population driven by Poisson-rate inputs",
                         description="A population of N neurons, each with exactly F distinct random recurrent "
                                     "targets (never itself), driven one-to-one by N Poisson inputs of rate R; "
                                     "see coresim/workload/random_net.py.")
    r.add_argument("--neurons", type=int, default=1024, metavar="N", help="population size (default 1024)")
    r.add_argument("--fanout", type=int, default=16, metavar="F", help="recurrent targets per neuron, at most N-1 "
                                                                       "(default 16)")
    r.add_argument("--rate", type=float, default=0.05, metavar="R", help="input spike probability per neuron and "
                                                                         "timestep, in [0, 1] (default 0.05)")
    r.add_argument("--timesteps", type=int, default=100, metavar="T", help="timesteps (default 100)")
    r.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the connectivity and weights (default 0)")
    r.add_argument("--weight-bits", type=int, default=8, metavar="B", help="signed weight width: 4..8 for "
                                                                           "loihi_lif, 3..16 for lif (default 8)")
    r.add_argument("--model", default="loihi_lif", help="neuron model: loihi_lif (default) or lif")
    r.add_argument("-o", "--output", required=True, metavar="FILE.yaml",
                   help="workload YAML to write; the weights go to FILE.npz beside it")


def run(args: argparse.Namespace) -> int:
    from coresim.workload.random_net import npz_path, random_network, workload_yaml, write_npz

    out = Path(args.output)
    if out.suffix not in (".yaml", ".yml"):
        raise SpecError(None, "--output", f"expected a .yaml file name (got {args.output!r})")
    npz = npz_path(out)
    try:
        spec, arrays = random_network(args.neurons, args.fanout, args.rate, args.timesteps, args.seed,
                                      weight_bits=args.weight_bits, model=args.model, weights=npz.name)
    except MemoryError:
        gib = args.neurons * args.fanout * 13 / 2 ** 30  # targets, indices (4 B each), weights, transients
        raise SpecError(None, "--fanout", f"{args.neurons} x {args.fanout} synapses do not fit in memory (about "
                                          f"{gib:.1f} GiB needed)") from None
    command = shlex.join(["coresim", "gen", "random", "--neurons", str(args.neurons), "--fanout", str(args.fanout),
                          "--rate", f"{args.rate:g}", "--timesteps", str(args.timesteps), "--seed", str(args.seed),
                          "--weight-bits", str(args.weight_bits), "--model", args.model, "-o", out.name])
    text = workload_yaml(spec, command)
    with atomic_path(out) as yaml_tmp, atomic_path(npz) as npz_tmp:  # the weights land first, then the YAML
        with open(npz_tmp, "wb") as f:
            write_npz(f, arrays)
        del arrays
        yaml_tmp.write_text(text)
    print(out)
    print(npz)
    return 0
