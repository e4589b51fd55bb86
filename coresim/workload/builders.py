"""Builders of timing-study workloads: ResNet-50/18, VGG-16, SEW-ResNet-18, Zou et al.'s VGG and LeNet.

Each returns a plain dict that validates as `WorkloadSpec` (the data of a YAML preset). Weights are not
trained: `build_network` draws them from `weight_seed`. Thresholds start at 1; pass `target_rate` (or call
`coresim.workload.calibrate.calibrate`) to pick per-layer integer thresholds that give that spike rate.

Conventions (the schema has no batch-norm and no standalone neuron layer):
- every conv / hidden FC has an IF neuron (hard reset to 0), batch norm folded away;
- the classifier is a linear layer with `neuron: {model: none}` and `readout: current_sum`;
- residual blocks end in an `add` of the branch's spikes and the shortcut (identity: the block input;
  projection: a 1x1 conv with its own IF neuron), i.e. the SEW-ResNet "ADD" connect function. The add's
  integer output (0, 1, 2, ... within a stage) is what the next block's convs and identity shortcut consume;
- the ResNet stem's 3x3/2 padded max-pool is a 2x2/2 `pool` (no padding in the schema), which keeps the
  ImageNet shapes (112 -> 56); global average pooling is a `pool` in `sum` mode over the whole map.
"""

from __future__ import annotations

from typing import Any

DISCLAIMER = "random integer weights from weight_seed, not trained (timing study)"


def _neuron(model: str, threshold: int) -> dict[str, Any]:
    return {"model": "none"} if model == "none" else {"threshold": int(threshold)}


class _Net:
    """Accumulates layer dicts and tracks the current (C, H, W) shape of every layer."""

    def __init__(self, shape: tuple[int, ...]):
        self.layers: list[dict[str, Any]] = []
        self.shapes: dict[str, tuple[int, ...]] = {"input": tuple(shape)}
        self.last = "input"

    def _add(self, d: dict[str, Any], src: list[str], shape: tuple[int, ...]) -> str:
        if src != [self.last]:
            d["inputs"] = list(src)
            # keep `neuron` last for readability
            if "neuron" in d:
                d["neuron"] = d.pop("neuron")
        self.layers.append(d)
        self.shapes[d["name"]] = shape
        self.last = d["name"]
        return d["name"]

    def conv(self, name: str, out: int, k: int, stride: int = 1, padding: int = 0, src: str | None = None,
             model: str = "if") -> str:
        src = src or self.last
        c, h, w = self.shapes[src]
        d: dict[str, Any] = {"name": name, "type": "conv2d", "out_channels": out, "kernel": k}
        if stride != 1:
            d["stride"] = stride
        if padding:
            d["padding"] = padding
        d["neuron"] = _neuron(model, 1)
        ho, wo = ((x + 2 * padding - k) // stride + 1 for x in (h, w))
        return self._add(d, [src], (out, ho, wo))

    def pool(self, name: str, k: int, mode: str = "max", stride: int | None = None) -> str:
        c, h, w = self.shapes[self.last]
        d: dict[str, Any] = {"name": name, "type": "pool", "kernel": k}
        if stride is not None and stride != k:
            d["stride"] = stride
        d["mode"] = mode
        s = stride or k
        return self._add(d, [self.last], (c, (h - k) // s + 1, (w - k) // s + 1))

    def flatten(self, name: str = "flat") -> str:
        n = 1
        for x in self.shapes[self.last]:
            n *= x
        return self._add({"name": name, "type": "flatten"}, [self.last], (n,))

    def linear(self, name: str, out: int, model: str = "if") -> str:
        d = {"name": name, "type": "linear", "out_features": out, "neuron": _neuron(model, 1)}
        return self._add(d, [self.last], (out,))

    def add(self, name: str, srcs: list[str]) -> str:
        return self._add({"name": name, "type": "add"}, srcs, self.shapes[srcs[0]])


def _workload(name: str, description: str, net: _Net, timesteps: int, input_spec: dict[str, Any],
              weight_seed: int, target_rate: float | None) -> dict[str, Any]:
    data = {"name": name, "description": description, "timesteps": timesteps, "weight_seed": weight_seed,
            "input": input_spec, "layers": net.layers, "readout": "current_sum"}
    if target_rate is not None:
        from coresim.workload.calibrate import calibrate

        calibrate(data, target_rate)
    return data


def _input(shape: tuple[int, ...], encoding: str, samples: int, max_value: int = 16) -> dict[str, Any]:
    return {"shape": list(shape), "encoding": encoding, "dataset": "random", "samples": samples,
            "max_value": max_value}


def _resnet(name: str, blocks: list[int], bottleneck: bool, description: str, input_size: int,
            timesteps: int, classes: int, samples: int, weight_seed: int, encoding: str,
            target_rate: float | None) -> dict[str, Any]:
    net = _Net((3, input_size, input_size))
    net.conv("conv1", 64, 7, 2, 3)
    net.pool("maxpool", 2)
    in_ch = 64
    for stage, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True)):
        for b in range(n):
            p = f"layer{stage + 1}.{b}"
            stride = 2 if b == 0 and stage > 0 else 1
            block_in = net.last
            if bottleneck:  # torchvision v1.5: the stride sits on the 3x3 conv
                out_ch = 4 * width
                net.conv(f"{p}.conv1", width, 1)
                net.conv(f"{p}.conv2", width, 3, stride, 1)
                branch = net.conv(f"{p}.conv3", out_ch, 1)
            else:
                out_ch = width
                net.conv(f"{p}.conv1", width, 3, stride, 1)
                branch = net.conv(f"{p}.conv2", width, 3, 1, 1)
            short = block_in
            if stride != 1 or in_ch != out_ch:
                short = net.conv(f"{p}.downsample", out_ch, 1, stride, src=block_in)
            net.add(f"{p}.add", [branch, short])
            in_ch = out_ch
    _, h, w = net.shapes[net.last]
    net.pool("avgpool", h, "sum")
    net.flatten()
    net.linear("fc", classes, "none")
    return _workload(name, description, net, timesteps, _input((3, input_size, input_size), encoding, samples),
                     weight_seed, target_rate)


def resnet50(input_size: int = 224, timesteps: int = 4, classes: int = 1000, samples: int = 1,
             weight_seed: int = 50, encoding: str = "poisson", target_rate: float | None = None) -> dict:
    """Spiking ResNet-50 (torchvision v1.5 shapes): 53 convs (4 projection shortcuts) + FC."""
    desc = (f"ResNet-50 (ImageNet shapes) as an integer IF SNN with spike-add residuals, "
            f"{input_size}x{input_size}x3 {encoding} input; {DISCLAIMER}")
    return _resnet("resnet50", [3, 4, 6, 3], True, desc, input_size, timesteps, classes, samples,
                   weight_seed, encoding, target_rate)


def resnet18(input_size: int = 224, timesteps: int = 4, classes: int = 1000, samples: int = 1,
             weight_seed: int = 18, encoding: str = "poisson", target_rate: float | None = None) -> dict:
    """Spiking ResNet-18 (ImageNet shapes): 20 convs (3 projection shortcuts) + FC."""
    desc = (f"ResNet-18 (ImageNet shapes) as an integer IF SNN with spike-add residuals, "
            f"{input_size}x{input_size}x3 {encoding} input; {DISCLAIMER}")
    return _resnet("resnet18", [2, 2, 2, 2], False, desc, input_size, timesteps, classes, samples,
                   weight_seed, encoding, target_rate)


def sew_resnet18(input_size: int = 224, timesteps: int = 4, classes: int = 1000, samples: int = 1,
                 weight_seed: int = 118, encoding: str = "poisson", target_rate: float | None = None) -> dict:
    """SEW-ResNet-18 (Fang et al. 2021) with the ADD connect function: g(A, S) = SN(branch) + S.

    Same graph as `resnet18` here: the plain spiking ResNet (neuron after the add) needs a standalone
    neuron layer the schema lacks, so both use SEW's ADD; AND/IAND would need logic layers.
    """
    desc = (f"SEW-ResNet-18 (ADD connect: spikes of the branch + shortcut), ImageNet shapes, "
            f"{input_size}x{input_size}x3 {encoding} input; {DISCLAIMER}")
    return _resnet("sew_resnet18", [2, 2, 2, 2], False, desc, input_size, timesteps, classes, samples,
                   weight_seed, encoding, target_rate)


def vgg16(input_size: int = 224, timesteps: int = 4, classes: int = 1000, samples: int = 1,
          weight_seed: int = 16, encoding: str = "poisson", target_rate: float | None = None) -> dict:
    """Spiking VGG-16 (configuration D): 13 3x3 convs, 5 2x2 max-pools (spike OR), FC 4096-4096-classes."""
    net = _Net((3, input_size, input_size))
    cfg = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
    for i, stage in enumerate(cfg):
        for j, ch in enumerate(stage):
            net.conv(f"conv{i + 1}_{j + 1}", ch, 3, 1, 1)
        net.pool(f"pool{i + 1}", 2)
    net.flatten()
    net.linear("fc6", 4096)
    net.linear("fc7", 4096)
    net.linear("fc8", classes, "none")
    desc = f"VGG-16 as an integer IF SNN, {input_size}x{input_size}x3 {encoding} input; {DISCLAIMER}"
    return _workload("vgg16", desc, net, timesteps, _input((3, input_size, input_size), encoding, samples),
                     weight_seed, target_rate)


def vgg_cifar10(input_size: int = 24, timesteps: int = 8, classes: int = 10, samples: int = 1,
                weight_seed: int = 10, encoding: str = "current", target_rate: float | None = None) -> dict:
    """Zou et al. (2024) CIFAR-10 VGG (ALL_INT_SNN cnn1_cifar10.py): pooling is a 2x2/2 conv."""
    net = _Net((3, input_size, input_size))
    net.conv("conv0", 96, 3, 1, 1)
    net.conv("conv1", 256, 3, 1, 1)
    net.conv("conv2", 256, 2, 2)  # P
    net.conv("conv3", 384, 3, 1, 1)
    net.conv("conv4", 384, 2, 2)  # P
    net.conv("conv5", 384, 3, 1, 1)
    net.conv("conv6", 256, 3, 1, 1)
    net.conv("conv7", 256, 2, 2)  # P
    net.conv("conv8", 1024, 3)    # no pad: 3x3 -> 1x1 at 24x24 input
    net.conv("conv9", 1024, 1)
    net.flatten()
    net.linear("fc", classes, "none")
    desc = (f"Zou et al. 2024 CIFAR-10 VGG (pooling = 2x2/2 conv), {input_size}x{input_size}x3 "
            f"{encoding} input to the first layer, IF neurons; {DISCLAIMER}")
    return _workload("vgg_cifar10", desc, net, timesteps,
                     _input((3, input_size, input_size), encoding, samples), weight_seed, target_rate)


def lenet_mnist(input_size: int = 28, timesteps: int = 4, classes: int = 10, samples: int = 1,
                weight_seed: int = 5, encoding: str = "current", target_rate: float | None = None) -> dict:
    """Zou et al. (2024) MNIST LeNet (ALL_INT_SNN Quant_LeNet_MNIST.py): 5x5 valid convs, 2x2/2 conv pools."""
    net = _Net((1, input_size, input_size))
    net.conv("conv1", 32, 5)
    net.conv("pool1", 32, 2, 2)
    net.conv("conv2", 64, 5)
    net.conv("pool2", 64, 2, 2)
    _, h, _ = net.shapes[net.last]
    net.conv("fc1", 1000, h)  # 4x4 conv x1000 at 28x28 input
    net.flatten()
    net.linear("fc2", classes, "none")
    desc = (f"Zou et al. 2024 MNIST LeNet (pooling = 2x2/2 conv), {input_size}x{input_size}x1 {encoding} "
            f"input to the first layer, IF neurons; {DISCLAIMER}")
    return _workload("lenet_mnist", desc, net, timesteps,
                     _input((1, input_size, input_size), encoding, samples), weight_seed, target_rate)


PRESETS = {
    "resnet50": resnet50,
    "resnet18": resnet18,
    "vgg16": vgg16,
    "sew_resnet18": sew_resnet18,
    "vgg_cifar10": vgg_cifar10,
    "lenet_mnist": lenet_mnist,
}
