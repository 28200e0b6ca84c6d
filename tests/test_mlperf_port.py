"""The MLPerf Tiny ports compute what the reference files compute.

Three references, from strongest to loosest:
* the float reference file interpreted in numpy (``zoo.keras_ref`` / ``zoo.tflite_ref``): equal to
  float rounding, same top-1 (needs h5py, and the tflite package for kws);
* LiteRT on the float kws .tflite (its hybrid int8-weight kernels quantize activations on the fly,
  so logits differ by a few percent; top-1 must still agree);
* LiteRT on the int8 .tflite files: a quantized model, so only near-agreement (top-1 on most
  synthetic inputs, reconstruction error within 2x), which still catches a wrong layout or padding.
The last two skip when ai-edge-litert is not installed. Inputs are synthetic (no data sets offline).
"""

import numpy as np
import pytest
import torch
from mcudeploy.zoo import mlperf_tiny as mt

pytest.importorskip("h5py", reason="the Keras .h5 reference files need h5py (pip install h5py)")
pytest.importorskip("tflite", reason="the kws reference .tflite needs the tflite package (pip install tflite)")
from mcudeploy.zoo import mlperf_ref as ref

if not all((mt.MODEL_DIR / f).is_file() for f in list(mt.FLOAT_FILES.values()) + list(mt.INT8_FILES.values())):
    pytest.skip(f"MLPerf Tiny reference files not found in {mt.MODEL_DIR} (set MCUDEPLOY_MLPERF_TINY)",
                allow_module_level=True)

# MACs as the compiler counts them (conv: out pixels x out ch x k x k x in ch/groups; fc: in x out),
# matching MLPerf Tiny's published ~12.5 M / ~2.7 M / ~7.5 M / ~0.26 M.
MACS = {"ic_resnet8": 12_501_632, "kws_dscnn": 2_656_768, "vww_mobilenet": 7_489_664, "ad_autoencoder": 264_192}
OUT = {"ic_resnet8": (10,), "kws_dscnn": (12,), "vww_mobilenet": (2,), "ad_autoencoder": (640,)}


@pytest.fixture(scope="module", params=mt.MODELS)
def port(request):
    name = request.param
    return name, mt.load(name)


def _run(m, x):
    with torch.no_grad():
        return m(torch.from_numpy(x)).double().numpy()


def _litert():
    pytest.importorskip("ai_edge_litert", reason="LiteRT reference interpreter absent (pip install ai-edge-litert)")


def test_sample_inputs(port):
    name, _m = port
    x = mt.sample_inputs(name, 3, seed=5)
    lo, hi = mt.input_range(name)
    assert x.shape == (3,) + mt.input_shape(name) and x.dtype == np.float32
    assert lo <= x.min() and x.max() <= hi
    assert np.array_equal(x, mt.sample_inputs(name, 3, seed=5))
    assert not np.array_equal(x, mt.sample_inputs(name, 3, seed=6))


def test_port_equals_float_reference(port):
    name, m = port
    assert not m.training
    x = mt.sample_inputs(name, 4, seed=0)
    got, want = _run(m, x), ref.float_reference(name, x)
    assert got.shape == (4,) + OUT[name]
    tol = 5e-5 * max(1.0, float(np.abs(want).max()))  # float32 rounding: ~1e-5 relative measured
    assert np.abs(got - want).max() <= tol, ref.compare(name, x, got, want)
    if name != "ad_autoencoder":
        assert np.array_equal(got.argmax(1), want.argmax(1))


def test_kws_port_vs_litert_float():
    _litert()
    x = mt.sample_inputs("kws_dscnn", 8, seed=0)
    got, want = _run(mt.load("kws_dscnn"), x), ref.litert_reference("kws_dscnn", x, int8=False)
    assert np.array_equal(got.argmax(1), want.argmax(1)), ref.compare("kws_dscnn", x, got, want)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()  # hybrid kernels: ~3% measured


def test_port_near_litert_int8(port):
    _litert()
    name, m = port
    x = mt.sample_inputs(name, 8, seed=0)
    got, want = _run(m, x), ref.litert_reference(name, x, int8=True)
    r = ref.compare(name, x, got, want, logits=False)
    if name == "ad_autoencoder":
        ratio = np.array(r["score_want"]) / np.array(r["score_got"])
        assert 0.5 < ratio.min() and ratio.max() < 2.0, r
    else:
        assert r["top1_agree"] >= 6, r  # synthetic inputs give near-ties the int8 model may flip


def test_input_ranges_match_int8_references():
    from mcudeploy.zoo.tflite_reader import read_tflite

    for name in mt.MODELS:
        t = read_tflite(mt.MODEL_DIR / mt.INT8_FILES[name]).inputs[0]
        s, z = float(t.scale[0]), int(t.zero_point[0])
        assert np.allclose(mt.input_range(name), (s * (-128 - z), s * (127 - z)), rtol=1e-6, atol=1e-6)


def test_frontend_accepts_and_counts_macs(port):
    """The compiler captures and lowers each port (C generation is exercised by the slow test)."""
    from mcudeploy.frontend import capture, export_module, simplify
    from mcudeploy.lower import lower

    name, m = port
    x = mt.sample_inputs(name, 4, seed=1)
    g = lower(simplify(capture(export_module(m, torch.from_numpy(x[:1])))), x)
    assert g.macs == MACS[name]
    assert g.tensors[g.output].shape == OUT[name]
    assert tuple(g.meta["input_shape_torch"]) == mt.input_shape(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kws_dscnn", "ad_autoencoder"])
def test_compiles_bit_exact_on_host(name, tmp_path):
    """End to end for the two quick ones: build_project compiles the engine with the host C compiler
    and checks it byte for byte against the numpy reference."""
    from conftest import compile_module, need_cc

    need_cc()
    res = compile_module(mt.load(name), mt.sample_inputs(name, 64, seed=1), tmp_path / name)
    assert res.report["macs"] == MACS[name]
    hc = res.report["host_check"]
    assert hc["bit_exact"] == hc["samples"] > 0


def test_vww_reference_runs():
    """vww_96.h5 has near-zero channels (|w| ~ 1e-30..1e-18) with real biases: the quantizer widens
    their weight scale so the int32 bias fits (quantize.quantize_weights_and_bias), and the int8
    graph runs and agrees with the float port."""
    from mcudeploy import reference as R
    from mcudeploy.frontend import capture, export_module, simplify
    from mcudeploy.lower import lower

    m = mt.load("vww_mobilenet")
    x = mt.sample_inputs("vww_mobilenet", 8, seed=1)
    g = lower(simplify(capture(export_module(m, torch.from_numpy(x[:1])))), x)
    for op in g.ops:
        if "bias" in op.arrays:
            assert np.abs(op.arrays["bias"].astype(np.int64)).max() <= 2**30, op.name
    yq = R.run(g, R.prepare_input(g, x))
    with torch.no_grad():
        yf = m(torch.from_numpy(x)).numpy()
    assert (R.dequantize_output(g, yq).argmax(1) == yf.argmax(1)).mean() >= 0.75


def test_layout_converters():
    """Keras NHWC layouts -> torch NCHW: conv, depthwise (multiplier 2) and a dense after a Flatten."""
    from mcudeploy.zoo.keras_h5 import conv_weight, dense_weight, depthwise_weight

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 4, 3))  # N H W C
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2))
    k = rng.standard_normal((3, 3, 3, 6))
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # N OH OW C kh kw
    want = np.einsum("nhwcij,ijco->nhwo", win, k).transpose(0, 3, 1, 2)
    assert np.allclose(torch.nn.functional.conv2d(xt, torch.from_numpy(conv_weight(k))).numpy(), want)
    kd = rng.standard_normal((3, 3, 3, 2))
    want = np.einsum("nhwcij,ijcm->nhwcm", win, kd).reshape(2, 3, 2, 6).transpose(0, 3, 1, 2)
    got = torch.nn.functional.conv2d(xt, torch.from_numpy(depthwise_weight(kd)), groups=3).numpy()
    assert np.allclose(got, want)
    kf = rng.standard_normal((5 * 4 * 3, 7))
    got = xt.flatten(1).numpy() @ dense_weight(kf, flat_from_hwc=(5, 4, 3)).T
    assert np.allclose(got, x.reshape(2, -1) @ kf)
