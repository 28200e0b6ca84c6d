"""dwnet (examples/dwnet.py) with twice the channels: 32, 64, 128, 128.

Why it exists: budget-driven pruning (Liberis & Lane) starts from an over-parameterised net. The
narrow dwnet has too few channels at its peak layers to lose two thirds of its arena at under a
point of accuracy; this wider one, trained the same way, is the over-parameterised start
(benchmarks/budget_pruning.py reports it beside the narrow one, each against its own dense arena).

    python examples/train.py dwnet_wide --data fashion-mnist --epochs 5 -o dwnet_wide.pt
"""

import torch
from torch import nn


def separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(),
    )


class DWNetWide(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),  # 28 -> 14
            separable(32, 64),                                                     # 14
            separable(64, 128, stride=2),                                          # 14 -> 7
            separable(128, 128),                                                   # 7
            nn.AvgPool2d(7),                                                       # 7 -> 1
        )
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


def dwnet_wide() -> DWNetWide:
    return DWNetWide()
