"""LeNet-5 for 1x28x28 digits (MNIST): the smallest model the whole pipeline is tested on.

    python examples/train.py lenet5 --data mnist --epochs 4 -o lenet5.pt
    mcudeploy compile examples/lenet5.py:lenet5 --weights lenet5.pt ...

forward uses functional calls (F.relu, F.max_pool2d, torch.flatten) on purpose: the frontend must
capture those as well as module calls.
"""

import torch
import torch.nn.functional as F
from torch import nn


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)   # 28x28 -> 28x28, pool -> 14x14
        self.conv2 = nn.Conv2d(6, 16, 5)             # 14x14 -> 10x10, pool -> 5x5
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def lenet5() -> LeNet5:
    return LeNet5()
