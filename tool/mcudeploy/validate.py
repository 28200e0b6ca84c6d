"""``mcudeploy validate``: stream real samples through the board and compare, as stedgeai does.

Usage::

    rep = validate("out/lenet", "nucleo-f446re", emulate=True, data="mnist", limit=500)
    rep["bit_exact"] == rep["samples"]

Three comparisons per sample: device vs the numpy integer reference (must be byte for byte
equal: anything else is a bug), device vs the float model (agreement of top-1, rmse, mae, l2r,
cos of the dequantized outputs), and device and float vs the labels. Results are appended to a
results file one JSON line per sample, so an interrupted run resumes (``resume=True``) with
every sample counted exactly once: the report is computed from the file, not from memory.
"""

from __future__ import annotations

import contextlib
import json
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from . import datasets, layerdiff, progress
from . import reference as R
from .device import open_device
from .errors import LinkError, McdError, TargetError
from .link.protocol import ERR_COMMAND, DeviceError
from .memmap import memory_map
from .pipeline import run_module
from .project import Project
from .results import check_results, results_header, results_path, start_results
from .target import is_url
from .target.locks import port_lock


class ValidationInterrupted(McdError):
    """The board or the link went away mid-run; the results so far are saved for ``--resume``."""

    exit_code = 3


class ValidationCancelled(ValidationInterrupted):
    """Ctrl-C after the run started; the results so far are saved for ``--resume``."""

    exit_code = 130


def _metrics(prj: Project, x, y, ref_q, float_out, dev_q, totals, layers) -> dict:
    g = prj.graph
    n = len(dev_q)
    bit_exact = (dev_q == ref_q).all(axis=1)
    dev_f = R.dequantize_output(g, dev_q).reshape(n, -1)
    flo = float_out.reshape(n, -1)
    diff = dev_f - flo
    rep = {
        "samples": n,
        "bit_exact": int(bit_exact.sum()),
        "bit_exact_first_mismatch": int(np.flatnonzero(~bit_exact)[0]) if not bit_exact.all() else None,
        "agreement_float": float((dev_f.argmax(1) == flo.argmax(1)).mean()),
        "rmse": float(np.sqrt((diff ** 2).mean())), "mae": float(np.abs(diff).mean()),
        "l2r": float(np.linalg.norm(diff) / max(np.linalg.norm(flo), 1e-12)),
        "cos": float((dev_f * flo).sum() / max(np.linalg.norm(dev_f) * np.linalg.norm(flo), 1e-12)),
        "count_per_inference": int(np.median(totals)),
        "count_per_inference_min": int(np.min(totals)), "count_per_inference_max": int(np.max(totals)),
        "layers": [{"name": name, "count": int(np.median([row[i] for row in layers]))}
                   for i, name in enumerate(prj.meta["layer_names"])],
    }
    if y is not None:
        k = int(max(y.max(), dev_f.shape[1] - 1)) + 1
        conf = np.zeros((k, k), np.int64)
        np.add.at(conf, (y, dev_f.argmax(1)), 1)
        rep.update(accuracy_device=float((dev_f.argmax(1) == y).mean()),
                   accuracy_float=float((flo.argmax(1) == y).mean()),
                   accuracy_reference=float((ref_q.argmax(1) == y).mean()),
                   confusion_matrix=conf.tolist())
    else:
        rep.update(accuracy_device=None, accuracy_float=None, accuracy_reference=None, confusion_matrix=None)
    return rep


def validate(project, board: str, emulate: bool, data: str, limit: int | None = None, port: str | None = None,
             results: Path | None = None, resume: bool = False, progress=None, baud: int | None = None,
             probe: str | None = None, fresh: bool = False, layers: bool = False, **link_options) -> dict:
    """Validate ``data`` on the board; ``probe`` picks a debug probe by unique id, ``baud`` the UART
    rate; ``link_options`` (retries, timeout, reconnect_timeout) go to the Link.

    ``results`` (default: one file per run under PROJECT/validate/, see results.py) is written
    only when it is absent, empty, or a results file: saved samples of this run are kept with
    ``resume`` (only the missing ones run) or discarded with ``fresh``, and without either the
    call refuses; another run's results are replaced only with ``fresh``. A failure before the board answered with the
    project's model (no probe, no emulator, wrong model, busy port) is a plain McdError and leaves
    no results file. If the board or the link fails for good mid-run, ``ValidationInterrupted``
    says how many samples are saved and how to resume; the report of the resumed run equals an
    uninterrupted one (apart from ``throughput``, ``link``, ``results_file`` and ``resumed_samples``).

    A named ``port`` is locked first (target/locks.py), so a board another command is using is
    reported at once, not after this run's preparations (data, reference, float model).

    ``layers`` (and, without it, any sample that differs from the reference) adds ``layer_diff``:
    the first differing sample (or sample 0) rerun layer by layer on the device and compared with
    the reference, naming the first layer that differs with positions and values (layerdiff.py)."""
    with contextlib.ExitStack() as held:
        if port and (is_url(port) or not emulate):  # what open_device locks too (a board's own emulator: no)
            held.enter_context(port_lock(port))
        return _validate(project, board, emulate, data, limit, port, results, resume, progress, baud, probe,
                         fresh, layers=layers, **link_options)


def _validate(project, board: str, emulate: bool, data: str, limit: int | None, port: str | None,
              results: Path | None, resume: bool, progress, baud: int | None, probe: str | None, fresh: bool,
              layers: bool = False, **link_options) -> dict:
    """``validate`` once the port, if one was named, is held."""
    prj = Project(project)
    x, y = datasets.load_for_project(prj, data, split="test", limit=limit)  # refuses wrong data first
    header = results_header(prj, board, data, x)
    explicit = results is not None
    results = Path(results) if explicit else results_path(prj.path, board, emulate, data, header)
    done = check_results(results, header, resume, fresh, explicit)  # refuses before any other work
    g = prj.graph
    xq = R.prepare_input(g, x)
    ref_q = R.run(g, xq)
    float_out = run_module(prj.float_model(), torch.from_numpy(x)).numpy()
    todo = [i for i in range(len(x)) if i not in done]
    connected = False  # before the board answered with this model, a failure is a setup error
    t0 = time.perf_counter()
    try:
        with open_device(prj.path, board, emulate=emulate, port=port, probe=probe, baud=baud,
                         **link_options) as dev:
            connected = True
            start_results(results, header, done)
            with open(results, "a") as f:
                for k, i in enumerate(todo):
                    r = dev.infer(xq[i].tobytes())
                    rec = {"i": i, "out": r.output.hex(), "total": r.total_count, "layers": r.layer_counts,
                           "stack": r.stack_high_water}
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
                    done[i] = rec
                    if progress:
                        progress(k + 1, len(todo))
            diff = _layer_diff(dev, g, xq, ref_q, done, layers)
            info = dev.info()
            build, emulated, stats, bps = dev.build, dev.emulated, dict(dev.link.stats), dev.board.uart.baud
    except (LinkError, TargetError) as exc:
        if not connected:
            raise
        raise ValidationInterrupted(
            f"interrupted: validation stopped after {len(done)} of {len(x)} samples: {exc}\n"
            f"The {len(done)} results so far are saved in {results}; once the board answers again, run the "
            "same command with --resume to validate the remaining samples (each is counted once)") from exc
    except KeyboardInterrupt:
        if not connected:
            raise
        raise ValidationCancelled(
            f"interrupted (Ctrl-C): {len(done)} of {len(x)} results saved in {results}; run the same command "
            "with --resume to validate the remaining samples (each is counted once)") from None
    seconds = time.perf_counter() - t0
    order = sorted(done)
    assert order == list(range(len(x))), "every sample exactly once"
    dev_q = np.stack([np.frombuffer(bytes.fromhex(done[i]["out"]), np.int8) for i in order])
    totals = [done[i]["total"] for i in order]
    layers = [done[i]["layers"] for i in order]
    rep = {"board": board, "emulated": emulated, "counter": info.counter, "data": str(data),
           "model_hash": prj.meta["model_hash"],
           # what the agreement figures compare with: an imported .tflite has LiteRT, not a float model
           "float_model": "LiteRT reference kernels (model.tflite)" if (prj.path / "model.tflite").is_file()
           else "float model"}
    rep.update(_metrics(prj, x, y, ref_q, float_out, dev_q, totals, layers))
    # the deepest stack any sample reached (each result carries the high-water mark since boot),
    # so a board reset or a resumed run reports what an uninterrupted one does
    stack = max((done[i].get("stack", 0) for i in order), default=0) or info.stack_high_water
    rep.update(flash_bytes=build.flash_bytes, ram_bytes=build.ram_bytes, board_flash_bytes=build.flash_limit,
               board_ram_bytes=build.ram_limit, stack_peak_bytes=stack,
               arena_bytes=prj.meta["arena_bytes"], results_file=str(results),
               resumed_samples=len(x) - len(todo),
               throughput=_throughput(len(todo), seconds, stats, bps, emulated),
               link={k: stats[k] for k in ("retries", "bad_frames", "stale", "timeouts", "reconnects", "resets")})
    if diff is not None:
        rep["layer_diff"] = diff
    rep["memory"] = memory_map(build, prj.meta["layer_names"], prj.meta["arena_bytes"], stack)
    return rep


def _layer_diff(dev, g, xq, ref_q, done: dict, always: bool) -> dict | None:
    """The layer-by-layer diff of the first sample that differs from the reference (of sample 0
    with ``always``), while the device is still open; None when asked for nothing and all match."""
    differ = [i for i in sorted(done) if done[i]["out"] != ref_q[i].tobytes().hex()]
    if not differ and not always:
        return None
    i = differ[0] if differ else min(done, default=0)
    data = xq[i].tobytes()
    with progress.task(f"compare sample {i} layer by layer"):
        dev.infer(data)  # the device holds this input again; the layer requests rerun it
        try:
            crcs = dev.layer_crcs(zlib.crc32(data))
        except DeviceError as exc:
            if exc.code != ERR_COMMAND:
                raise
            return {"sample": i, "layers": len(layerdiff.engine_layers(g)), "first_differing_layer": None,
                    "unavailable": "the board's firmware predates the layer requests (LAYER_CRC): build and flash "
                                   "it again with this mcudeploy"}
        return layerdiff.diff_layers(g, xq[i], crcs=crcs, read=dev.layer_output, sample=i)


def _throughput(samples: int, seconds: float, stats: dict, baud: int, emulated: bool) -> dict:
    """Samples and wire bytes per second, against what the UART could carry at most: ``baud / 10``
    bytes/s each way (8N1: a start and a stop bit per byte). The busier direction (host to board:
    the inputs) is the bound. Under QEMU the UART is not paced by its baud rate, so the fraction
    can exceed 1 there; on silicon it says how much of the line the protocol keeps busy."""
    busy = max(stats["bytes_out"], stats["bytes_in"])
    bound = baud / 10
    ok = seconds > 0 and samples > 0
    return {"samples": samples, "seconds": round(seconds, 3),
            "samples_per_s": round(samples / seconds, 2) if ok else None,
            "bytes_to_device": stats["bytes_out"], "bytes_from_device": stats["bytes_in"],
            "bytes_per_s": round(busy / seconds, 1) if ok else None,
            "baud": baud, "baud_bound_bytes_per_s": bound,
            "fraction_of_bound": round(busy / seconds / bound, 3) if ok else None,
            "paced_by_baud": not emulated}
