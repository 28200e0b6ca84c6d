"""The MLPerf Tiny performance-mode text protocol on the emulated NUCLEO-F446RE.

A host script that follows the protocol text (mlperf_suite.RunnerSession: `name%`, `db load N%`,
`db <hex>%`, `infer N W%`, `results%`, each answered and closed by `m-ready`) drives the firmware
built with `--protocol mlperf`, and must get the values `validate` gets for the same input over
the framed link. Inputs are synthetic (the MLPerf data sets are not available offline).
"""

import json
import shutil

import numpy as np
import pytest
from mcudeploy import mlperf_suite as S
from mcudeploy import reference as R
from mcudeploy.boards import load_board
from mcudeploy.errors import McdError
from mcudeploy.target import open_target
from setup_progress import shown

pytestmark = [pytest.mark.emulated, pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                 reason="qemu-system-arm / arm-none-eabi-gcc not installed")]
pytest.importorskip("h5py", reason="the MLPerf Tiny ports need h5py")
pytest.importorskip("tflite", reason="the kws port needs the tflite package")
from mcudeploy.zoo import mlperf_tiny as mt

if not all((mt.MODEL_DIR / f).is_file() for f in mt.FLOAT_FILES.values()):
    pytest.skip(f"MLPerf Tiny reference files not found in {mt.MODEL_DIR}", allow_module_level=True)

BOARD = "nucleo-f446re"


@pytest.fixture(scope="module")
def projects(tmp_path_factory, request):
    # the session's base temp: test_mlperf_suite.py compiles into the same folder, and
    # compile_model reuses a project compiled there with the same recipe
    root = tmp_path_factory.getbasetemp() / "mlperf_tiny"
    with shown(request, "set-up: compile the KWS and AD MLPerf Tiny models"):
        return {n: S.compile_model(n, root / n) for n in ("kws_dscnn", "ad_autoencoder")}


def _session(elf):
    target = open_target(load_board(BOARD), emulate=True)
    target.start(elf)
    s = S.RunnerSession.open(target.uart_url, chunk=64)
    s.sync()
    return target, s


def _validate_outputs(prj, x, tmp_path) -> np.ndarray:
    """Device int8 outputs of `validate` (the framed link) for the float samples x."""
    from mcudeploy.validate import validate

    data = tmp_path / "x.npz"
    np.savez(data, x=x)
    rep = validate(prj.path, BOARD, True, str(data), results=tmp_path / "v.jsonl")
    assert rep["bit_exact"] == rep["samples"] == len(x)
    recs = [json.loads(ln) for ln in (tmp_path / "v.jsonl").read_text().splitlines()[1:]]
    return np.stack([np.frombuffer(bytes.fromhex(r["out"]), np.int8) for r in sorted(recs, key=lambda r: r["i"])])


def test_session_returns_what_validate_returns(projects, tmp_path):
    prj = projects["kws_dscnn"]
    g = prj.graph
    t = g.tensors[g.output]
    x = mt.sample_inputs("kws_dscnn", 2, seed=7)
    xq = R.prepare_input(g, x)
    want = _validate_outputs(prj, x, tmp_path)
    r = S.build_mlperf(prj.path, BOARD, emulate=True, name="kws_dscnn", result="vector")  # logits: exact int8
    assert r.flash_bytes <= r.flash_limit and r.ram_bytes <= r.ram_limit
    target, s = _session(r.elf)
    try:
        assert s.command("name") == [f"m-name-dut-[{BOARD}]"]
        assert s.command("profile") == ["m-profile-[MLPerf Tiny Firmware V0.1.0]", "m-model-[kws01]"]
        for i in range(len(x)):
            lines = s.load(xq[i].tobytes())
            assert lines[0] == f"m-[Expecting {xq.shape[1]} bytes]" and lines[-1] == "m-load-done"
            out = s.infer(1, 0)
            assert out["lines"][:3] == ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1"]
            assert [ln for ln in out["lines"] if not ln.startswith("m-lap-us-")][3] == "m-infer-done"
            assert out["lap_us"] > 0
            for got in (np.array(out["results"]), np.array(s.results())):
                # 6 decimals of scale * (q - zp): the int8 value comes back exactly
                q = np.round(got / t.scale + t.zero_point).astype(int)
                assert q.tolist() == want[i].astype(int).tolist()
                assert np.allclose(got, t.scale * (want[i].astype(np.float64) - t.zero_point), atol=1e-6)
            # warm-up runs reuse the input buffer: the engine must never write its input
            again = s.infer(2, 5)
            assert again["results"] == out["results"]
            assert not any(ln.startswith("e-") for ln in again["lines"])
    finally:
        s.close()
        target.stop()


def test_errors_and_edge_cases(projects):
    prj = projects["kws_dscnn"]
    r = S.build_mlperf(prj.path, BOARD, emulate=True, name="kws_dscnn")
    n = prj.meta["input_bytes"]
    target, s = _session(r.elf)
    try:
        assert s.command("frobnicate", check=False) == ["e-[Unknown command: frobnicate]"]
        assert s.command("infer 1 0", check=False)[0].startswith("e-[No input")
        assert s.command(f"db load {n + 1}", check=False)[0].startswith("e-[db load")
        assert s.command("db load 0", check=False)[0].startswith("e-[")
        s.command(f"db load {n}")
        s.command("db 0a1bff" + "00" * 7)
        assert s.command("db print") == ["m-buffer-0a-1b-ff-00-00-00-00-00", "m-buffer-00-00"]  # only loaded bytes
        assert s.command("db print 2 1") == ["m-buffer-1b-ff"]
        assert s.command("db print x", check=False)[0].startswith("e-[db print")
        assert s.command("db abc", check=False) == ["e-[Odd number of hex digits]"]
        assert s.command("db zz", check=False) == ["e-[Invalid hex digit]"]
        assert s.command("infer 0", check=False) == ["e-[Inference iterations must be >0]"]
        with pytest.raises(McdError):
            s.command("infer 1 0")  # the load is incomplete
    finally:
        s.close()
        target.stop()


def test_ad_runner_floats_and_anomaly_score(projects, tmp_path):
    """ad in the runner's format: float32 inputs quantized on the board exactly as the host does,
    results = the anomaly score mean((y - x)^2) of the same int8 output validate gets, x the
    float32 values sent (as the reference firmware computes it)."""
    prj = projects["ad_autoencoder"]
    g = prj.graph
    tout = g.tensors[g.output]
    x = mt.sample_inputs("ad_autoencoder", 2, seed=7)
    want = _validate_outputs(prj, x, tmp_path)
    r = S.build_mlperf(prj.path, BOARD, emulate=True, name="ad_autoencoder", runner_input=True)
    target, s = _session(r.elf)
    try:
        assert s.command("profile")[1] == "m-model-[ad01]"
        for i in range(len(x)):
            s.load(S.runner_bytes("ad_autoencoder", x[i]))
            got = s.infer(1, 3)["results"]
            y = tout.scale * (want[i].astype(np.float64) - tout.zero_point)
            xin = x[i].astype(np.float32).astype(np.float64)
            assert len(got) == 1 and got[0] == pytest.approx(((y - xin) ** 2).mean(), rel=1e-6, abs=1e-6)
    finally:
        s.close()
        target.stop()


def test_runner_byte_maps_equal_host_quantization(projects):
    """A map of mlperf_input.h is the host quantizer applied to every possible runner byte."""
    prj = projects["kws_dscnn"]
    g = prj.graph
    mode, text = S.runner_input_header(prj, "kws_dscnn")
    assert mode == "map"
    table = [int(v) for v in text.split("{", 1)[1].split("}", 1)[0].replace("\n", " ").split(",")]
    x = mt.sample_inputs("kws_dscnn", 1, seed=3)[0]
    b = np.frombuffer(S.runner_bytes("kws_dscnn", x), np.uint8)
    real = 0.5847029 * (b.view(np.int8).astype(np.float64) - 83)
    want = R.prepare_input(g, real.reshape(1, 1, 49, 10).astype(np.float32))[0]
    assert np.array_equal(np.array(table, np.int8)[b], want)
