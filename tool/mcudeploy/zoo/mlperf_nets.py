"""PyTorch definitions of the four MLPerf Tiny v1.x reference networks (architectures only; the
weights come from the reference files, see ``mlperf_tiny.load``).

Submodules carry the Keras layer names of the reference ``.h5`` files (``conv2d_3``,
``batch_normalization_3``, ...), so the weight loader maps them one to one by name and checks that
nothing is left over on either side. Every network is written for its fixed input size, because
TensorFlow's 'same' padding depends on it (``KerasConv2d``). Softmax is not part of the modules:
they return logits (argmax unchanged); the autoencoder returns its reconstruction.
"""

from __future__ import annotations

from collections import OrderedDict

import torch.nn.functional as F
from torch import nn

from .keras_h5 import same_padding


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


class KerasConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow 'same' padding for an ``in_hw`` input. When TF pads one pixel
    more at the bottom/right (stride 2, even input) the padding is an explicit zero ``F.pad``, which
    the mcudeploy frontend folds back into the convolution; otherwise it is the conv's own."""

    def __init__(self, cin: int, cout: int, k, stride, in_hw, groups: int = 1, padding: str = "same"):
        k, stride, in_hw = _pair(k), _pair(stride), _pair(in_hw)
        pads = [same_padding(n, kk, s) if padding == "same" else (0, 0) for n, kk, s in zip(in_hw, k, stride)]
        symmetric = all(a == b for a, b in pads)
        super().__init__(cin, cout, k, stride, padding=tuple(a for a, _ in pads) if symmetric else 0, groups=groups)
        (t, b), (lf, r) = pads
        self.tf_pad = None if symmetric else (lf, r, t, b)  # F.pad order: left, right, top, bottom
        self.out_hw = tuple(-(-n // s) if padding == "same" else (n - kk) // s + 1
                            for n, kk, s in zip(in_hw, k, stride))

    def forward(self, x):
        if self.tf_pad is not None:
            x = F.pad(x, self.tf_pad)
        return super().forward(x)


def _bn(c: int, eps: float = 1e-3) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=eps)  # Keras's default epsilon, not torch's 1e-5


class ResNet8(nn.Module):
    """ic01: ResNet-8 for CIFAR-10 (32x32x3, pixel values 0..255 unnormalised), three residual
    stacks of 16/32/64 channels; stacks 2 and 3 halve the map with stride 2 and have a 1x1 stride-2
    convolution (no BatchNorm) on the shortcut."""

    def __init__(self):
        super().__init__()
        self.conv2d, self.batch_normalization = KerasConv2d(3, 16, 3, 1, 32), _bn(16)
        self.conv2d_1, self.batch_normalization_1 = KerasConv2d(16, 16, 3, 1, 32), _bn(16)
        self.conv2d_2, self.batch_normalization_2 = KerasConv2d(16, 16, 3, 1, 32), _bn(16)
        self.conv2d_3, self.batch_normalization_3 = KerasConv2d(16, 32, 3, 2, 32), _bn(32)
        self.conv2d_4, self.batch_normalization_4 = KerasConv2d(32, 32, 3, 1, 16), _bn(32)
        self.conv2d_5 = KerasConv2d(16, 32, 1, 2, 32)
        self.conv2d_6, self.batch_normalization_5 = KerasConv2d(32, 64, 3, 2, 16), _bn(64)
        self.conv2d_7, self.batch_normalization_6 = KerasConv2d(64, 64, 3, 1, 8), _bn(64)
        self.conv2d_8 = KerasConv2d(32, 64, 1, 2, 16)
        self.average_pooling2d = nn.AvgPool2d(8)
        self.dense = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.batch_normalization(self.conv2d(x)))
        y = F.relu(self.batch_normalization_1(self.conv2d_1(x)))
        x = F.relu(x + self.batch_normalization_2(self.conv2d_2(y)))
        y = F.relu(self.batch_normalization_3(self.conv2d_3(x)))
        x = F.relu(self.conv2d_5(x) + self.batch_normalization_4(self.conv2d_4(y)))
        y = F.relu(self.batch_normalization_5(self.conv2d_6(x)))
        x = F.relu(self.conv2d_8(x) + self.batch_normalization_6(self.conv2d_7(y)))
        return self.dense(self.average_pooling2d(x).flatten(1))  # 1x1 map: flatten order is moot


class _Names:
    """Keras's automatic layer names: conv2d, conv2d_1, conv2d_2, ..."""

    def __init__(self):
        self.count: dict[str, int] = {}

    def __call__(self, base: str) -> str:
        i = self.count.get(base, 0)
        self.count[base] = i + 1
        return base if i == 0 else f"{base}_{i}"


def mobilenet_v1_025() -> nn.Sequential:
    """vww01: MobileNetV1 with width 0.25 on 96x96x3 (pixels scaled to 0..1), two classes."""
    name, layers, size = _Names(), OrderedDict(), 96

    def conv_bn_relu(conv):
        layers[name("conv2d" if conv.groups == 1 else "depthwise_conv2d")] = conv
        layers[name("batch_normalization")] = _bn(conv.out_channels)
        layers[name("activation")] = nn.ReLU()
        return conv.out_hw[0]

    size = conv_bn_relu(KerasConv2d(3, 8, 3, 2, size))
    cin = 8
    for cout, stride in [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (128, 1), (128, 1),
                         (128, 1), (128, 1), (256, 2), (256, 1)]:
        size = conv_bn_relu(KerasConv2d(cin, cin, 3, stride, size, groups=cin))
        size = conv_bn_relu(KerasConv2d(cin, cout, 1, 1, size))
        cin = cout
    layers["average_pooling2d"] = nn.AvgPool2d(3)  # 3x3 map: a global average
    layers["flatten"] = nn.Flatten()
    layers["dense"] = nn.Linear(256, 2)
    return nn.Sequential(layers)


def fc_autoencoder() -> nn.Sequential:
    """ad01: dense autoencoder on 640 log-mel values (5 frames x 128 bands), 128-128-128-128-8 down,
    128-128-128-128-640 up, each hidden layer Dense + BatchNorm + ReLU."""
    layers, widths = OrderedDict(), [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
    for i in range(9):
        sfx = "" if i == 0 else f"_{i}"
        layers[f"dense{sfx}"] = nn.Linear(widths[i], widths[i + 1])
        layers[f"batch_normalization{sfx}"] = nn.BatchNorm1d(widths[i + 1], eps=1e-3)
        layers[f"activation{sfx}"] = nn.ReLU()
    layers["dense_9"] = nn.Linear(128, 640)
    return nn.Sequential(layers)


def ds_cnn() -> nn.Sequential:
    """kws01: DS-CNN on a 49x10x1 MFCC map, 12 classes: a 10x4 stride-2 conv to 64 channels, four
    depthwise-separable blocks, a global average pool and a dense layer. The reference ``.tflite``
    has BatchNorm folded into the convolutions already, so there is none here."""
    layers = OrderedDict()
    stem = KerasConv2d(1, 64, (10, 4), 2, (49, 10))
    layers["conv"], layers["relu"] = stem, nn.ReLU()
    hw = stem.out_hw
    for i in range(1, 5):
        layers[f"dw{i}"], layers[f"dw{i}_relu"] = KerasConv2d(64, 64, 3, 1, hw, groups=64), nn.ReLU()
        layers[f"pw{i}"], layers[f"pw{i}_relu"] = KerasConv2d(64, 64, 1, 1, hw), nn.ReLU()
    layers["pool"] = nn.AvgPool2d(hw)  # 25x5: a global average
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(64, 12)
    return nn.Sequential(layers)
