"""Every op against two independent oracles (tests/op_oracle.py): LiteRT's reference kernels on
the same int8 graph, and torch's float op. Bytes must be equal where LiteRT rounds as we do;
where it rounds differently (its conv/fc/mul/hardswish/leaky-relu requantization is gemmlowp's
double rounding, its MEAN and bilinear resize have their own integer rules) at most one step
apart. Float: within one output quantization step."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("tflite", reason="the TFLite flatbuffer writer needs the tflite package (pip install tflite)")
pytest.importorskip("ai_edge_litert", reason="LiteRT is the oracle (pip install ai-edge-litert)")
sys.path.insert(0, str(Path(__file__).parent))
import op_oracle as O


@pytest.mark.parametrize("case", O.cases(), ids=lambda c: c[0])
def test_op_against_litert_and_float(case):
    row = O.check_case(*case)
    assert "error" not in row, row
    assert row["float_max_steps"] <= 1.0, row
    if case[3]:
        assert "litert_error" not in row, row
        assert row["litert_max_diff"] <= 1, row
        if case[0] in O.SAME_RULE:
            assert row["bytes_equal"] == 1.0, row


# The conv-type records (their reference and C kernels) follow the graph's rule; with the double
# rule, LiteRT's own for CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV, the bytes must be equal.
DOUBLE_RULE = ["conv2d", "conv2d_dilated", "conv2d_grouped", "conv2d_groups4", "conv2d_groups8", "conv2d_groups4_odd",
               "dwconv_dilated",
               "dwconv_dilated_odd", "conv1d_dilated", "convt_k2s2", "convt_k2s2_odd", "convt_k4s2p1"]


@pytest.mark.parametrize("case", [c for c in O.cases() if c[0] in DOUBLE_RULE], ids=lambda c: c[0])
def test_conv_records_equal_litert_under_double_rounding(case):
    row = O.check_case(*case, rounding="double")
    assert "error" not in row and "litert_error" not in row, row
    assert row["bytes_equal"] == 1.0 and row["litert_max_diff"] == 0, row
    assert row["float_max_steps"] <= 1.0, row
