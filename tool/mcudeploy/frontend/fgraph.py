"""The float graph between capture and quantization: torch layout (NCHW), float parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class FNode:
    name: str
    op: str  # conv, linear, bn, act, maxpool, avgpool, gap, reshape, add, cat, identity
    inputs: list[str]
    attrs: dict = field(default_factory=dict)
    params: dict[str, torch.Tensor] = field(default_factory=dict)
    shape: tuple[int, ...] = ()
    where: str = ""


@dataclass
class FloatGraph:
    nodes: list[FNode]
    input: str
    output: str
    input_shape: tuple[int, ...]

    def node(self, name: str) -> FNode:
        return next(n for n in self.nodes if n.name == name)

    def users(self, name: str) -> list[FNode]:
        return [n for n in self.nodes if name in n.inputs]


