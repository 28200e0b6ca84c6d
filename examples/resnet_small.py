"""A small residual CNN for 1x28x28 Fashion-MNIST.

It exists to exercise graph shapes LeNet lacks: BatchNorm after every conv (folded by the frontend),
two residual adds ``x + y`` (one with a 1x1 strided projection on the skip), a ``torch.cat`` channel
concat of two branches, and global average pooling before the classifier.

    python examples/train.py resnet_small --data fashion-mnist --epochs 2 -o resnet_small.pt
"""

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    """Two 3x3 conv+BN with a skip; a 1x1 conv+BN projects the skip when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, stride)
        self.b = conv_bn(cout, cout, 3)
        self.proj = conv_bn(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b(F.relu(self.a(x)))
        skip = x if self.proj is None else self.proj(x)
        return F.relu(skip + y)


class ResNetSmall(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = conv_bn(1, 16, 3, 2)          # 28 -> 14
        self.block1 = Block(16, 16)               # residual add, identity skip
        self.block2 = Block(16, 32, stride=2)     # 14 -> 7, residual add, projected skip
        self.branch3 = conv_bn(32, 16, 3)         # two branches concatenated on channels
        self.branch1 = conv_bn(32, 16, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        x = self.block1(x)
        x = self.block2(x)
        x = F.relu(torch.cat([self.branch3(x), self.branch1(x)], dim=1))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet_small() -> ResNetSmall:
    return ResNetSmall()
