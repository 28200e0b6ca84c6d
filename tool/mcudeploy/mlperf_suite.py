"""The MLPerf Tiny suite: the four reference models compiled, run on a board, checked and measured.

Usage::

    rep = run_suite("out/mlperf", samples=3)                   # emulated NUCLEO-F446RE
    for m in rep["models"]:
        m["name"], m["macs"], m["count_per_inference"], m["bit_exact"] == m["samples"]

Each model is, by default, the official int8 ``.tflite`` of MLPerf Tiny imported as it is
(``tflite_pipeline.compile_tflite``, rounding as LiteRT's reference kernels), so the figures
compare with MLPerf Tiny submissions on the same model, and each device output is also checked
against LiteRT (BUILTIN_REF) byte for byte (``litert_exact``). With ``float_ports=True`` it is
the PyTorch port of ``zoo.mlperf_tiny`` with the reference float weights, compiled with
``pipeline.build_project`` (calibrated on ``CALIB_SAMPLES`` synthetic ``sample_inputs``, seed
``CALIB_SEED``). Either is built for the board and run on it with other synthetic inputs (seed
``EVAL_SEED``): the real evaluation data sets (CIFAR-10, Speech Commands, VWW, ToyADMOS) are not
available offline, so these figures say the engine computes the same function as the reference and
how much it costs, not how accurate it is. Per model the device output must equal the numpy
reference byte for byte, and the int8 top-1 (ad: the order of anomaly scores) is compared with the
float port. Compiled projects are cached in ``WORKDIR/<name>`` and reused when their recipe is
unchanged, so a second run only builds and runs.
"""

from __future__ import annotations

import json
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from . import __version__, manifest
from . import progress as progress_mod
from . import reference as R
from .device import open_device
from .errors import McdError
from .project import Project

MODELS = ["ic_resnet8", "kws_dscnn", "vww_mobilenet", "ad_autoencoder"]
# the model names the MLPerf Tiny runner expects in `m-model-[...]` (EE_MODEL_VERSION_*)
RUNNER_NAMES = {"ic_resnet8": "ic01", "kws_dscnn": "kws01", "vww_mobilenet": "vww01", "ad_autoencoder": "ad01"}
CALIB_SAMPLES, CALIB_SEED, EVAL_SEED = 64, 1, 100
DATA_NOTE = ("synthetic inputs (zoo.mlperf_tiny.sample_inputs): the MLPerf Tiny evaluation data sets are "
             "not available offline, so accuracy is not measured; agreement is int8 vs the float port")


def generator_digest() -> str:
    """A digest over the code generator's sources (the package) and the firmware template's kernels.

    Why: a compiled suite project is reused when its recipe matches, and the version number does
    not change with every kernel or layout change; without this, `bench --suite` after such a
    change measured the old engine."""
    import hashlib

    from .cachefile import hash_files
    from .paths import FIRMWARE_TEMPLATE

    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    hash_files(h, "generator", sorted(f for f in [*pkg.rglob("*.py"), *pkg.rglob("*.j2")] if "__pycache__" not in f.parts))
    hash_files(h, "kernels", sorted((FIRMWARE_TEMPLATE / "kernels").rglob("*")))
    return h.hexdigest()[:16]


def _recipe(name: str, calib: int) -> dict:
    return {"zoo": name, "calib_samples": calib, "calib_seed": CALIB_SEED, "mcudeploy_version": __version__,
            "generator": generator_digest()}


def compile_model(name: str, outdir: str | Path, calib: int = CALIB_SAMPLES, force: bool = False) -> Project:
    """Compile the port of ``name`` into ``outdir`` (reused if compiled with the same recipe)."""
    from .frontend import export_module
    from .pipeline import build_project
    from .zoo import mlperf_tiny as mt

    outdir = Path(outdir)
    recipe = _recipe(name, calib)
    done = outdir / "mlperf_suite.json"
    if not force and done.is_file() and (outdir / "project.json").is_file():
        saved = json.loads(done.read_text())
        if saved.get("recipe") == recipe:
            return Project(outdir)
    x = mt.sample_inputs(name, calib, seed=CALIB_SEED)
    ep = export_module(mt.load(name), torch.from_numpy(x[:1]))
    build_project(ep, x, outdir, source=recipe)
    done.write_text(json.dumps({"recipe": recipe}, indent=1))
    manifest.record(outdir, done.name)  # the tool's own file: a later re-compile may replace it
    return Project(outdir)


def compile_official(name: str, outdir: str | Path, rounding: str = "litert", force: bool = False) -> Project:
    """Import the official int8 .tflite of ``name`` into ``outdir`` (reused if made the same way)."""
    from .tflite_pipeline import compile_tflite
    from .zoo import mlperf_tiny as mt

    outdir = Path(outdir)
    recipe = {"int8_file": mt.INT8_FILES[name], "rounding": rounding, "mcudeploy_version": __version__,
              "generator": generator_digest()}
    done = outdir / "mlperf_suite.json"
    if not force and done.is_file() and (outdir / "project.json").is_file():
        saved = json.loads(done.read_text())
        if saved.get("recipe") == recipe:
            return Project(outdir)
    compile_tflite(mt.MODEL_DIR / mt.INT8_FILES[name], outdir, rounding, host_check=False)
    done.write_text(json.dumps({"recipe": recipe}, indent=1))
    manifest.record(outdir, done.name)
    return Project(outdir)


def anomaly_scores(x: np.ndarray, recon: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error per sample: the autoencoder's anomaly score."""
    d = recon.reshape(len(x), -1).astype(np.float64) - x.reshape(len(x), -1).astype(np.float64)
    return (d ** 2).mean(axis=1)


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of sample pairs that two scorings put in the same order (1.0 with < 2 samples)."""
    pairs = list(combinations(range(len(a)), 2))
    if not pairs:
        return 1.0
    return float(np.mean([np.sign(a[i] - a[j]) == np.sign(b[i] - b[j]) for i, j in pairs]))


def run_model(name: str, prj: Project, board: str = "nucleo-f446re", samples: int = 3, emulate: bool = True,
              port: str | None = None, cycles: bool = False, **link_options) -> dict:
    """Run ``samples`` synthetic inputs of ``name`` on the board; compare and measure.
    ``link_options`` go to the Link (a farm gives a dead place up fast: farm/suite.py)."""
    from .zoo import mlperf_tiny as mt

    g = prj.graph
    x = mt.sample_inputs(name, samples, seed=EVAL_SEED)
    xq = R.prepare_input(g, x)
    ref = R.run(g, xq)
    with torch.no_grad():
        flo = mt.load(name)(torch.from_numpy(x)).double().numpy()
    outs, totals, stack = [], [], 0
    t0 = time.perf_counter()
    with open_device(prj.path, board, emulate=emulate, port=port, **link_options) as dev:
        for i in range(samples):
            r = dev.infer(xq[i].tobytes())
            outs.append(np.frombuffer(r.output, np.int8))
            totals.append(r.total_count)
            stack = max(stack, r.stack_high_water)
        counter, build = r.counter, dev.build
    seconds = time.perf_counter() - t0
    dev_q = np.stack(outs)
    same = (dev_q == ref).all(axis=1)
    litert = None
    if (prj.path / "model.tflite").is_file():  # an imported official model: LiteRT is the oracle
        from .litert import run_reference_kernels

        litert = int((dev_q == run_reference_kernels(prj.path / "model.tflite", xq)).all(axis=1).sum())
    dev_f = R.dequantize_output(g, dev_q).reshape(samples, -1)
    if name == "ad_autoencoder":
        s_dev, s_flo = anomaly_scores(x, dev_f), anomaly_scores(x, flo)
        agree, metric = rank_agreement(s_dev, s_flo), "anomaly_score_rank"
        extra = {"anomaly_score_device": s_dev.round(4).tolist(), "anomaly_score_float": s_flo.round(4).tolist()}
    else:
        agree, metric = float((dev_f.argmax(1) == flo.reshape(samples, -1).argmax(1)).mean()), "top1"
        extra = {}
    macs = int(prj.report["macs"])
    count = int(np.median(totals))
    rep = {"name": name, "runner_name": RUNNER_NAMES[name], "macs": macs, "counter": counter,
           "count_per_inference": count, "count_min": int(min(totals)), "count_max": int(max(totals)),
           "count_per_mac": round(count / macs, 3),
           "flash_bytes": build.flash_bytes, "ram_bytes": build.ram_bytes,
           "board_flash_bytes": build.flash_limit, "board_ram_bytes": build.ram_limit,
           "stack_reserved_bytes": build.stack_reserved, "stack_peak_bytes": stack,
           "arena_bytes": prj.meta["arena_bytes"], "weight_bytes": prj.report["weight_bytes"],
           "engine_flash_bytes": build.engine.get("flash"), "engine_ram_bytes": build.engine.get("ram"),
           "samples": samples, "bit_exact": int(same.sum()), "litert_exact": litert,
           "model_source": "official int8 .tflite" if litert is not None else "PyTorch port, calibrated here",
           "agreement_metric": metric, "agreement_float": agree, **extra,
           "seconds_on_board": round(seconds, 2)}
    if cycles:
        rep.update(estimated_cycles_of(prj, x[:1]))
    return rep


def estimated_cycles_of(prj: Project, x1: np.ndarray) -> dict:
    """The timing model's figures for one suite model on the sample ``x1`` (the first of the
    evaluation inputs): host side, so the same whatever board ran the model."""
    from .bench import bench_project

    b = bench_project(prj, x1)
    return {"estimated_cycles": b["estimated_cycles"], "estimated_cycles_per_mac": b["cycles_per_mac"],
            "timing_model": b["timing_model"], "estimated_cycles_flash": b["estimated_cycles_flash"],
            "estimated_cycles_flash_per_mac": b["cycles_per_mac_flash"], "flash_timing_model": b["flash_timing_model"]}


def check_suite(names: list[str] | None, board: str, float_ports: bool = False) -> None:
    """What the suite needs, checked before anything is compiled: known model names, the board,
    the zoo extra (h5py, tflite) and the reference model files."""
    from .boards import load_board
    from .extras import ZOO, require

    for name in names or []:
        if name not in MODELS:
            raise McdError(f"unknown MLPerf Tiny model '{name}'; choose from {', '.join(MODELS)}")
    load_board(board)
    require("the MLPerf Tiny suite (reading the reference models)", *ZOO)
    from .zoo import mlperf_tiny as mt

    files = [mt.FLOAT_FILES[n] for n in names or MODELS]  # the float files: the ports, and what int8 is compared with
    if not float_ports:
        files += [mt.INT8_FILES[n] for n in names or MODELS]
    absent = [f for f in files if not (mt.MODEL_DIR / f).is_file()]
    if absent:
        raise McdError(f"the MLPerf Tiny reference models {', '.join(absent)} are not in {mt.MODEL_DIR}; set "
                       "MCUDEPLOY_MLPERF_TINY to the folder that holds them (the trained_models files of github.com/mlcommons/tiny)")


def suite_project(name: str, workdir: Path, float_ports: bool = False, rounding: str = "litert") -> Project:
    """The compiled project of one suite model in ``workdir`` (compiled now, or reused)."""
    if float_ports:
        return compile_model(name, workdir / name)
    sub = name if rounding == "litert" else f"{name}-{rounding}"
    return compile_official(name, workdir / "int8" / sub, rounding)


def suite_report(models: list[dict], board: str, emulate, float_ports: bool, rounding: str) -> dict:
    """The suite's report around its per-model dicts (one board, or a farm: farm/suite.py)."""
    return {"suite": "mlperf-tiny", "board": board, "emulated": emulate,
            "counter": models[0]["counter"] if models else None, "data": DATA_NOTE,
            "models_source": "float ports" if float_ports else f"official int8 .tflite, rounding {rounding}",
            "calibration": {"samples": CALIB_SAMPLES, "seed": CALIB_SEED} if float_ports else None,
            "eval_seed": EVAL_SEED,
            "models": models}


def run_suite(workdir: str | Path, samples: int = 3, names: list[str] | None = None,
              board: str = "nucleo-f446re", emulate: bool = True, port: str | None = None,
              cycles: bool = False, progress=None, float_ports: bool = False, rounding: str = "litert") -> dict:
    """Compile (or reuse), build and run each model; the suite's report (``models``: one dict each).
    ``float_ports``: the calibrated PyTorch ports instead of the official int8 files; ``rounding``:
    the official files' rule (tflite_import.ROUNDINGS)."""
    check_suite(names, board, float_ports)
    workdir = Path(workdir)
    models = []
    todo = names or MODELS
    for k, name in enumerate(todo):
        with progress_mod.task(f"mlperf-tiny {name} ({k + 1}/{len(todo)})"):
            if progress:
                progress(f"{name}: compile")
            prj = suite_project(name, workdir, float_ports, rounding)
            if progress:
                progress(f"{name}: build and run {samples} sample(s) on {board}{' (emulated)' if emulate else ''}")
            m = run_model(name, prj, board, samples, emulate, port, cycles)
        m["project"] = str(prj.path)
        models.append(m)
    return suite_report(models, board, emulate, float_ports, rounding)


# ---- the MLPerf Tiny text protocol (firmware_template/src/mlperf_protocol.h) ------------------

# What the benchmark runner's `db` bytes hold per model (the reference submitters' th_load_tensor):
# one byte per element for ic / vww (uint8 pixels, HWC) and kws (the reference int8 model's
# quantization), little-endian float32 for ad. Each maps a runner byte or float to the real value.
RUNNER_INPUT = {
    "ic_resnet8": ("map", lambda b: float(b)),                            # pixel 0..255
    "vww_mobilenet": ("map", lambda b: b / 255.0),                        # pixel / 255
    "kws_dscnn": ("map", lambda b: 0.5847029 * (((b + 128) % 256 - 128) - 83)),  # int8, (0.5847029, 83)
    "ad_autoencoder": ("f32", None),                                      # float32 log-mel dB
}


def runner_input_header(prj: Project, name: str) -> tuple[str, str]:
    """(MCD_MLPERF_INPUT mode, mlperf_input.h text) turning the runner's bytes into engine bytes.

    A map is computed with the host's own quantizer (``quantize.quantize_tensor``) on every
    possible byte, so the board converts exactly as ``reference.prepare_input`` does."""
    from .quantize import quantize_tensor

    t = prj.graph.tensors[prj.graph.input]
    mode, real = RUNNER_INPUT[name]
    head = f"/* Generated by mcudeploy.mlperf_suite for {name}: the runner's input -> engine int8. */\n"
    if mode == "f32":
        return mode, head + f"#define MCD_MLPERF_INPUT_SCALE_D {float(t.scale)!r}\n"
    reals = np.array([real(b) for b in range(256)], np.float32)
    q = quantize_tensor(reals, t.scale, t.zero_point)
    rows = ",\n    ".join(", ".join(str(int(v)) for v in q[i:i + 16]) for i in range(0, 256, 16))
    return mode, head + "#include <stdint.h>\n" + f"static const int8_t mcd_mlperf_input_map[256] = {{\n    {rows}}};\n"


def runner_bytes(name: str, x: np.ndarray) -> bytes:
    """One float sample (NCHW / flat, as ``sample_inputs``) in the runner's `db` format."""
    mode, _ = RUNNER_INPUT[name]
    if mode == "f32":
        return np.asarray(x, "<f4").reshape(-1).tobytes()
    hwc = np.asarray(x).transpose(1, 2, 0) if np.ndim(x) == 3 else np.asarray(x)
    if name == "kws_dscnn":
        q = np.clip(np.round(hwc / 0.5847029) + 83, -128, 127).astype(np.int8)
        return q.reshape(-1).tobytes()
    scale = 255.0 if name == "vww_mobilenet" else 1.0
    return np.clip(np.round(hwc * scale), 0, 255).astype(np.uint8).reshape(-1).tobytes()


def result_mode(prj: Project, name: str | None) -> str:
    """What ``results`` prints, as the reference firmware does: ad's anomaly score (``mse``), else
    class probabilities: the dequantized output if the graph ends with a softmax (``vector``),
    the softmax of its dequantized logits otherwise (``softmax``; the PyTorch ports leave it out)."""
    if name == "ad_autoencoder":
        return "mse"
    ops = prj.graph.ops
    return "vector" if ops and ops[-1].kind.lower() == "softmax" else "softmax"


def build_mlperf(project: str | Path, board: str = "nucleo-f446re", emulate: bool = True,
                 name: str | None = None, runner_input: bool = False, jobs: int = 2, result: str | None = None):
    """Build PROJECT's firmware with the MLPerf Tiny protocol (``build-emu-mlperf/``).

    ``name`` (one of MODELS) sets what ``profile%`` reports and what ``results`` prints
    (``result_mode``; ``result`` overrides it: vector, softmax or mse). ``runner_input`` makes
    ``db`` take the runner's data format (``RUNNER_INPUT``) instead of the engine's int8 bytes."""
    from .build import build, firmware_dir

    prj = Project(project)
    if result not in (None, "vector", "softmax", "mse"):
        raise McdError(f"MLPerf result mode '{result}' is not one of vector, softmax, mse")
    opts = {"MCD_MLPERF_MODEL": RUNNER_NAMES.get(name, "unknown"),
            "MCD_MLPERF_RESULT": result or result_mode(prj, name), "MCD_MLPERF_INPUT": "engine"}
    if runner_input:
        if name not in RUNNER_INPUT:
            raise McdError(f"runner input format is known for {', '.join(RUNNER_INPUT)}, not '{name}'")
        mode, text = runner_input_header(prj, name)
        h = firmware_dir(prj.path, board) / "mlperf" / "mlperf_input.h"
        h.parent.mkdir(parents=True, exist_ok=True)
        if not h.is_file() or h.read_text() != text:
            h.write_text(text)
        opts["MCD_MLPERF_INPUT"] = mode
    return build(prj.path, board, emulate=emulate, jobs=jobs, protocol="mlperf", options=opts)


def expected_results(prj: Project, name: str, data: bytes, runner_input: bool = True) -> list[float]:
    """The host's ``m-results-[...]`` values for one `db` input (``runner_bytes`` format if
    ``runner_input``, else engine int8 bytes): the numpy reference's int8 output, then the same
    arithmetic as the firmware (softmax of the dequantized logits / ad's mean squared error), in
    float64. The firmware prints 6 decimals, so a board's values are within 5e-7 of these."""
    g = prj.graph
    tin, tout = g.tensors[g.input], g.tensors[g.output]
    xf = None
    if not runner_input:
        xq = np.frombuffer(data, np.int8)
    elif RUNNER_INPUT[name][0] == "f32":
        xf = np.frombuffer(data, "<f4").astype(np.float64)
        xq = R.prepare_input(g, xf.astype(np.float32).reshape(1, -1))[0]  # ad: a flat vector
    else:
        _, text = runner_input_header(prj, name)
        table = np.array([int(v) for v in text.split("{", 1)[1].split("}", 1)[0].replace("\n", " ").split(",")],
                         np.int8)
        xq = table[np.frombuffer(data, np.uint8)]
    out = R.run(g, xq.reshape(1, -1))[0].astype(np.float64)
    # model.h's MCD_OUTPUT_SCALE / MCD_INPUT_SCALE are float literals: the board's scales are float32
    y = float(np.float32(tout.scale)) * (out - tout.zero_point)
    mode = result_mode(prj, name)
    if mode == "mse":
        x = xf if xf is not None else float(np.float32(tin.scale)) * (xq.astype(np.float64) - tin.zero_point)
        return [float(((y - x[:len(y)]) ** 2).mean())]
    if mode == "softmax":
        e = np.exp(y - y.max())
        y = e / e.sum()
    return y.tolist()


class RunnerSession:
    """The host half of the MLPerf Tiny text protocol over a pyserial URL, as the runner speaks it.

        with RunnerSession.open("socket://127.0.0.1:4444") as s:
            s.command("name")                 # ['m-name-dut-[nucleo-f446re]']
            s.load(input_bytes)               # db load N, then db <hex> in chunks
            s.infer(1, 0)["results"]          # [floats]

    ``command`` sends ``CMD%`` and returns the lines up to ``m-ready``; an ``e-`` line raises."""

    def __init__(self, port, timeout: float = 120.0, chunk: int = 32):
        self.port, self.timeout, self.chunk = port, timeout, chunk  # chunk: bytes per db line (80-char commands)
        self.log: list[str] = []

    @classmethod
    def open(cls, url: str, **kw) -> RunnerSession:
        import serial

        return cls(serial.serial_for_url(url, baudrate=115200, timeout=0.5), **kw)

    def close(self) -> None:
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _readline(self, deadline: float) -> str:
        buf = b""
        while not buf.endswith(b"\n"):
            if time.monotonic() > deadline:
                raise McdError(f"no complete line from the board (got {buf!r}); log: {self.log[-5:]}")
            buf += self.port.read_until(b"\n")
        return buf.decode("ascii", "replace").strip()

    def command(self, text: str, check: bool = True) -> list[str]:
        self.port.write(text.encode("ascii") + b"%")
        deadline = time.monotonic() + self.timeout
        lines = []
        while True:
            ln = self._readline(deadline)
            self.log.append(ln)
            if ln == "m-ready":
                break
            if ln:
                lines.append(ln)
        if check and any(ln.startswith("e-") for ln in lines):
            raise McdError(f"board answered {text!r} with {lines}")
        return lines

    def sync(self, attempts: int = 20, wait: float = 1.0) -> list[str]:
        """Send `name%` until the board answers it; the boot messages (m-init-done, m-ready) may
        arrive before the answer, or be lost if sent before the host connected: both are skipped."""
        for _ in range(attempts):
            self.port.write(b"name%")
            deadline = time.monotonic() + wait
            lines: list[str] = []
            try:
                while True:
                    ln = self._readline(deadline)
                    self.log.append(ln)
                    if ln.startswith("m-name-"):
                        lines = [ln]
                    elif ln == "m-ready" and lines:
                        return lines
            except McdError:
                continue
        raise McdError(f"the board does not answer name%; log: {self.log[-5:]}")

    def load(self, data: bytes) -> list[str]:
        lines = self.command(f"db load {len(data)}")
        for i in range(0, len(data), self.chunk):
            lines += self.command("db " + data[i:i + self.chunk].hex())
        if "m-load-done" not in lines:
            raise McdError(f"db load of {len(data)} bytes did not complete: {lines[-3:]}")
        return lines

    def infer(self, n: int = 1, warmup: int = 0) -> dict:
        lines = self.command(f"infer {n} {warmup}")
        laps = [int(ln[len("m-lap-us-"):]) for ln in lines if ln.startswith("m-lap-us-")]
        return {"lines": lines, "lap_us": laps[1] - laps[0] if len(laps) == 2 else None,
                "results": parse_results(lines)}

    def results(self) -> list[float]:
        return parse_results(self.command("results"))


def parse_results(lines: list[str]) -> list[float]:
    m = [ln for ln in lines if ln.startswith("m-results-[") and ln.endswith("]")]
    if not m:
        raise McdError(f"no m-results-[...] line in {lines}")
    return [float(v) for v in m[-1][len("m-results-["):-1].split(",")]
