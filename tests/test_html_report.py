"""The validation page (html_report.py) reads like a report: units and formatting, what each metric
means, the confusion matrix, per-layer counts beside the estimate, the memory map, the link with its
explanation and the layer diff. Checked on a report shaped as validate writes it (no board needed);
docs/validate_report.png is the same page in Chromium (scripts/report_screenshot.sh)."""

import re
from html.parser import HTMLParser

from mcudeploy.html_report import render, validation_page


def _rep(diff: bool) -> dict:
    layers = [{"name": "conv1", "count": 231967, "estimated_cycles": 290784},
              {"name": "fc1", "count": 82075, "estimated_cycles": 95323}]
    rep = {
        "board": "nucleo-f446re", "emulated": True, "counter": "emulated_instructions", "data": "mnist",
        "model_hash": "473a4f82bc81b6cc", "samples": 1200, "bit_exact": 1199 if diff else 1200,
        "bit_exact_first_mismatch": 3 if diff else None, "agreement_float": 0.9966666666666667,
        "rmse": 0.05723456789123, "mae": 0.0444712345, "l2r": 0.06004335358738899, "cos": 0.99995312345,
        "count_per_inference": 725415, "count_per_inference_min": 725135, "count_per_inference_max": 725720,
        "layers": layers, "accuracy_device": 0.986, "accuracy_float": 0.99, "accuracy_reference": 0.986,
        "confusion_matrix": [[590, 10], [7, 593]], "flash_bytes": 82384, "ram_bytes": 9000,
        "board_flash_bytes": 524288, "board_ram_bytes": 131072, "stack_peak_bytes": 820, "arena_bytes": 2376,
        "results_file": "x.jsonl", "resumed_samples": 0,
        "throughput": {"samples": 1200, "seconds": 48.45, "samples_per_s": 6.19, "bytes_to_device": 243686,
                       "bytes_from_device": 18303, "bytes_per_s": 5029.1, "baud": 115200,
                       "baud_bound_bytes_per_s": 11520.0, "fraction_of_bound": 0.437, "paced_by_baud": False},
        "link": {"retries": 311, "bad_frames": 0, "stale": 2, "timeouts": 302, "reconnects": 0, "resets": 0},
        "memory": {"flash": {"rows": [{"part": "code: engine (kernels, model.c)", "bytes": 11372},
                                      {"part": "weights (all layers, see below)", "bytes": 64028}],
                             "total_linked": 82384, "limit": 524288,
                             "weights_by_layer": [{"layer": "conv1", "bytes": 414}, {"layer": "fc1", "bytes": 49080}]},
                   "ram": {"rows": [{"part": "activation arena (planned by liveness)", "bytes": 2376}],
                           "total_linked": 9000, "limit": 131072, "arena_planned": 2376, "stack_peak": 820},
                   "source": "linker map (input sections), firmware.map"},
    }
    if diff:
        rep["layer_diff"] = {"sample": 3, "layers": 2, "matching_layers": 1, "first_differing_layer": {
            "index": 1, "name": "fc1", "kind": "fc", "shape": [120], "layout": "flat", "inputs": ["x"],
            "differing": 2, "of": 120, "max_abs_diff": 1, "crc_equal_only": False,
            "positions": [{"at": [7], "device": 12, "reference": 11}, {"at": [9], "device": -4, "reference": -3}]}}
    return rep


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page, flags=re.DOTALL))


def test_numbers_are_formatted_with_units():
    page = validation_page("mcudeploy validate: out/lenet", _rep(False))
    text = _text(page)
    for raw in ("True", "False", "None", "0.06004335358738899", "0.986 ", "0.9966666"):
        assert raw not in text, raw
    assert not re.search(r"\d\.\d{7,}", text), re.findall(r"\d\.\d{7,}", text)
    for shown in ("98.60 %", "99.67 %", "1,200 / 1,200", "725,415", "82,384 of 524,288 bytes (15.7 %)",
                  "11,520 B/s", "0.06004", "0.999953"):
        assert shown in text, shown


def test_every_section_is_there_and_explained():
    text = _text(validation_page("t", _rep(False)))
    for heading in ("Summary", "Accuracy and agreement", "Confusion matrix", "Per-layer latency", "Memory map",
                    "Weights by layer", "RAM", "Link"):
        assert heading in text, heading
    assert "relative L2 error" in text and "root mean square" in text  # l2r and rmse say what they are
    assert "emulated_instructions" in text and "estimated_cycles" in text and "0.80" in text  # count beside estimate
    assert "on a loaded machine" in text.lower() and "311" in text  # retries and timeouts explained
    assert "stack, measured peak" in text and "activation arena" in text
    assert "Layer-by-layer diff" not in text


def test_layer_diff_is_shown_when_there_was_one():
    text = _text(validation_page("t", _rep(True)))
    assert "First differing layer: 1" in text and "fc1" in text and "2 of 120 values" in text
    assert "Layer 0 equals the reference" in text and "position (h, w, c)" not in text and "index" in text


def test_page_is_well_formed():
    class Check(HTMLParser):
        def __init__(self):
            super().__init__()
            self.open: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "br"):
                self.open.append(tag)

        def handle_endtag(self, tag):
            assert self.open and self.open[-1] == tag, (tag, self.open[-5:])
            self.open.pop()

    for page in (validation_page("t", _rep(True)),
                 render("profile", {"board": "b", "deterministic": True, "x": 0.123456789}, _rep(False)["layers"],
                        "emulated_instructions", [[1, 0], [0, 1]])):
        c = Check()
        c.feed(page)
        assert c.open == []
    assert "True" not in _text(render("p", {"deterministic": True}, [], "c"))
