"""A depthwise-separable CNN (MobileNet-style) for 1x28x28 inputs.

Exercises the depthwise kernel (3x3 conv with groups == channels) followed by a pointwise 1x1 conv,
each with BatchNorm and ReLU6 (a clamp to [0, 6] the int8 kernels fold into their output range),
and AvgPool2d.

    python examples/train.py dwnet --data fashion-mnist --epochs 2 -o dwnet.pt
"""

import torch
from torch import nn


def separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(),
    )


class DWNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),  # 28 -> 14
            separable(16, 32),                                                     # 14
            separable(32, 64, stride=2),                                           # 14 -> 7
            separable(64, 64),                                                     # 7
            nn.AvgPool2d(7),                                                       # 7 -> 1
        )
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


def dwnet() -> DWNet:
    return DWNet()
