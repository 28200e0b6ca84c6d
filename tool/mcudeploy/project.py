"""The project directory that ``mcudeploy compile`` writes and every later command reads.

Usage::

    prj = Project("out/lenet")
    prj.graph            # ir.Graph (quantized, device layout)
    prj.meta["model_hash"], prj.engine_dir, prj.float_model()

Layout: see docs/contracts.md.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from .errors import McdError
from .ir import Graph


class Project:
    def __init__(self, path) -> None:
        self.path = Path(path)
        if not (self.path / "project.json").is_file():
            raise McdError(f"'{self.path}' is not an mcudeploy project (no project.json); "
                           "create one with: mcudeploy compile MODEL --calib DATA -o DIR")

    @cached_property
    def meta(self) -> dict:
        doc = self._json("project.json")
        if not isinstance(doc.get("model_hash"), str):
            raise self._damaged("project.json", ValueError("no model_hash"))
        return doc

    @cached_property
    def report(self) -> dict:
        return self._json("report.json")

    @cached_property
    def graph(self) -> Graph:
        try:
            return Graph.load(self.path)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:  # a damaged or foreign file
            raise self._damaged("graph.json/graph.npz", exc) from exc

    def _json(self, name: str) -> dict:
        try:
            doc = json.loads((self.path / name).read_text())
        except (OSError, ValueError) as exc:  # missing, unreadable, not UTF-8, not JSON
            raise self._damaged(name, exc) from exc
        if not isinstance(doc, dict):
            raise self._damaged(name, ValueError(f"a JSON {type(doc).__name__}, not an object"))
        return doc

    def _damaged(self, name: str, exc: Exception) -> McdError:
        return McdError(f"'{self.path}': {name} is damaged or not mcudeploy's ({type(exc).__name__}: {exc}); "
                        "compile the project again with: mcudeploy compile MODEL --calib DATA -o DIR")

    @property
    def engine_dir(self) -> Path:
        return self.path / "engine"

    @property
    def firmware_dir(self) -> Path:
        return self.path / "firmware"

    def float_model(self):
        """The float model as a callable nn.Module (from the saved torch.export archive).

        A project directory may have been swapped or edited since ``compile`` wrote it, so its
        archive is checked like any user's model before torch reads it. A project compiled from an
        int8 .tflite has no float model: its stand-in is LiteRT running the file with reference
        kernels (tflite_pipeline.TfliteModule), the oracle that project is compared with."""
        if (self.path / "model.tflite").is_file() and self.meta.get("source", {}).get("format") == "tflite":
            from .tflite_pipeline import TfliteModule

            return TfliteModule(self.path / "model.tflite", self.graph)
        from .frontend.archive import load_pt2

        return load_pt2(self.path / "model_float.pt2", label="project model",
                        fix="recompile the project with mcudeploy compile from a trusted model").module()
