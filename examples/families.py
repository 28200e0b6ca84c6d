"""Small examples of four TinyML model families, with data and a few seconds of training:
what issue 12's operator coverage is for.

* ``mobilenetv3``: MobileNetV3-small-style blocks (Hardswish, depthwise, squeeze-excite with
  Hardsigmoid gating, x * s broadcast) on sklearn digits (1 x 8 x 8);
* ``tcresnet``: TC-ResNet-style keyword spotting: Conv1d over time with dilation, residual adds,
  a temporal mean, on synthetic 16-band x 32-frame "keywords" (10 classes);
* ``unet``: a tiny U-Net / autoencoder: strided conv down, ConvTranspose2d and bilinear Upsample up,
  skip concat, on digits (reconstruction; no classes);
* ``grouped``: a net of grouped convolutions (groups 2 and 4) with channel shuffle by permute-free
  grouping, on digits.

    python examples/families.py           # trains each, prints float accuracy
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    test = np.arange(len(x)) % 5 == 0
    return x[~test], d.target[~test], x[test], d.target[test]


def keywords(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic spectrogram-like 'keywords': class k sweeps a band pattern over time, with noise
    and a random time shift (16 bands x 32 frames, as a Conv1d's channels x length)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    t = np.arange(32)
    x = 0.3 * rng.standard_normal((n, 16, 32)).astype(np.float32)
    for i in range(n):
        k, shift = y[i], rng.integers(-4, 5)
        bands = (k * 3 + (t + shift) * (1 + k % 3) // 4) % 16
        x[i, bands, t] += 1.5
        x[i, (bands + 5) % 16, t] += 0.7 * (k % 2)
    split = n * 4 // 5
    return x[:split], y[:split], x[split:], y[split:]


class SEBlock(nn.Module):
    def __init__(self, c: int, r: int = 4):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // r, 1), nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * s


class Bneck(nn.Module):
    """Inverted residual with Hardswish and squeeze-excite (MobileNetV3)."""

    def __init__(self, cin: int, exp: int, cout: int, stride: int):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(cin, exp, 1, bias=False), nn.BatchNorm2d(exp), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(exp, exp, 3, stride, 1, groups=exp, bias=False), nn.BatchNorm2d(exp),
                                nn.Hardswish())
        self.se = SEBlock(exp)
        self.project = nn.Sequential(nn.Conv2d(exp, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.res else y


class MobileNetV3Tiny(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(Bneck(16, 32, 16, 1), Bneck(16, 48, 24, 2), Bneck(24, 64, 24, 1))
        self.head = nn.Sequential(nn.Linear(24, 32), nn.Hardswish(), nn.Linear(32, classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


class TCBlock(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm1d(c)
        self.conv2 = nn.Conv1d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(c)

    def forward(self, x):
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class TCResNetTiny(nn.Module):
    def __init__(self, bands: int = 16, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv1d(bands, 24, 3, padding=1)
        self.blocks = nn.Sequential(TCBlock(24, 1), TCBlock(24, 2), TCBlock(24, 4))
        self.fc = nn.Linear(24, classes)

    def forward(self, x):
        y = F.max_pool1d(F.relu(self.stem(x)), 2)
        return self.fc(self.blocks(y).mean(-1))


class UNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.mid = nn.Conv2d(16, 16, 3, padding=1)
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.dec = nn.Conv2d(8 + 8 + 8, 8, 3, padding=1)
        self.out = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        e1 = F.relu(self.enc1(x))
        e2 = F.relu(self.enc2(e1))
        m = F.relu(self.mid(e2))
        u = torch.cat([F.relu(self.up(m)), e1, F.interpolate(m, scale_factor=2, mode="bilinear")[:, :8]], 1)
        return torch.sigmoid(self.out(F.relu(self.dec(u))))


class GroupedNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.g1 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, groups=2), nn.BatchNorm2d(32), nn.ReLU())
        self.g2 = nn.Sequential(nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=4), nn.BatchNorm2d(32), nn.ReLU())
        self.g3 = nn.Sequential(nn.Conv2d(32, 48, 1, groups=4), nn.ReLU())
        self.fc = nn.Linear(48, classes)

    def forward(self, x):
        y = self.g3(self.g2(self.g1(F.relu(self.c1(x)))))
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


FAMILIES = {
    "mobilenetv3": (MobileNetV3Tiny, digits, "classify"),
    "tcresnet": (TCResNetTiny, keywords, "classify"),
    "unet": (UNetTiny, digits, "reconstruct"),
    "grouped": (GroupedNet, digits, "classify"),
}


def train(name: str, epochs: int = 6, seed: int = 0):
    """(model in eval mode, x_train, y_train, x_test, y_test): seconds on a CPU."""
    cls, data, task = FAMILIES[name]
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # tiny batches: threads only contend
    xtr, ytr, xte, yte = data()
    model = cls()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr).long()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            out = model(xt[idx])
            loss = F.mse_loss(out, xt[idx]) if task == "reconstruct" else F.cross_entropy(out, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval(), xtr, ytr, xte, yte


if __name__ == "__main__":
    import sys
    import time

    for fam in sys.argv[1:] or FAMILIES:
        t0 = time.time()
        m, _, _, xte, yte = train(fam)
        print(fam, f"trained in {time.time() - t0:.1f} s")
        with torch.no_grad():
            out = m(torch.from_numpy(xte))
        if FAMILIES[fam][2] == "classify":
            print(fam, "float top-1", float((out.argmax(1).numpy() == yte).mean()))
        else:
            print(fam, "float mse", float(F.mse_loss(out, torch.from_numpy(xte))))
