"""The labgrid board farm, with real ``labgrid-coordinator`` and ``labgrid-exporter`` processes on
127.0.0.1 (ports picked free) and emulated boards: two exporters (two hosts) x two places each.

What must hold: a validation sharded over the places is bit-exact with every sample once; a
place someone else holds is neither used nor touched; a second client is refused a held place
by the coordinator; an exporter (and its host's boards) killed mid-run loses and doubles
nothing; the exporter configuration for a faked set of USB devices is one labgrid accepts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import types

import pytest
from click.testing import CliRunner
from mcd_cli import run_main
from mcudeploy.boards import load_board
from mcudeploy.cli import cli

labgrid = pytest.importorskip("labgrid", reason="labgrid not installed: pip install 'mcudeploy[farm]'")

from mcudeploy.farm import emulated
from mcudeploy.farm.client import FarmClient, FarmError
from mcudeploy.farm.exporter_config import exporter_config
from mcudeploy.farm.run import validate_farm

BOARD = "nucleo-f446re"
needs_emulator = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                    reason="qemu-system-arm / arm-none-eabi-gcc not installed")


def _two_hosts(folder):
    b = load_board(BOARD)
    state = emulated.up(2, b, folder, name="hostA")
    addr = state["coordinator"]["address"]
    emulated.up(2, b, folder, coordinator=addr, name="hostB")
    return addr


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("farm")
    addr = _two_hosts(folder)
    yield addr
    emulated.down(folder)


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


@needs_emulator
@pytest.mark.emulated
def test_sharded_bit_exact_held_place_untouched_second_client_refused(digits_project, farm, tmp_path):
    with FarmClient(farm, user="bob") as bob:
        bob.acquire("hostB-2")  # someone else's place: the run must leave it alone
        refused = []

        def mid_run(places):
            # the coordinator itself refuses (no local check first)
            with FarmClient(farm, user="carol") as carol, pytest.raises(FarmError, match="refused AcquirePlace"):
                carol.acquire(places[0].name, check=False)
            # and labgrid's own client, another process, as a colleague at another desk would run it
            lg = subprocess.run([shutil.which("labgrid-client"), "-x", farm, "-p", places[1].name, "acquire"],
                                check=False, capture_output=True, text=True, env=dict(os.environ, LG_USERNAME="dave"))
            assert lg.returncode != 0 and "already acquired by" in lg.stdout + lg.stderr, lg
            refused.append(places[0].name)

        res = tmp_path / "r.jsonl"
        rep = validate_farm(digits_project, farm, BOARD, 4, "digits", limit=48, results=res, on_started=mid_run)
        bob.sync()
        assert bob.holder("hostB-2").endswith("/bob")
        bob.release("hostB-2")
    assert rep["samples"] == rep["bit_exact"] == 48 and rep["counter"] == "emulated_instructions"
    used = [p["place"] for p in rep["farm"]["places"]]
    assert used == ["hostA-1", "hostA-2", "hostB-1"] and list(rep["farm"]["held_by_others"]) == ["hostB-2"]
    assert refused == ["hostA-1"]
    recs = _records(res)
    assert sorted(r["i"] for r in recs) == list(range(48))
    assert sum(rep["farm"]["samples_per_place"].values()) == 48 and "hostB-2" not in rep["farm"]["samples_per_place"]
    with FarmClient(farm) as me:  # every place released
        assert all(me.holder(n) is None for n in me.places_for(BOARD))


@needs_emulator
@pytest.mark.emulated
def test_cli_validate_over_the_farm_and_resume(digits_project, farm, tmp_path):
    res, js = tmp_path / "c.jsonl", tmp_path / "c.json"
    args = ["validate", str(digits_project), "--farm", farm, "--board", BOARD, "--boards", "2", "--data", "digits",
            "--limit", "20", "--results", str(res), "--json", str(js)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "bit-exact        20/20" in r.output and "2 place(s) used" in r.output
    rep = json.loads(js.read_text())
    assert len(rep["farm"]["places"]) == 2
    again = CliRunner().invoke(cli, [*args, "--resume"])  # nothing left to run: the same report from the file
    assert again.exit_code == 0, again.output
    assert "20 from an earlier run" in again.output


@needs_emulator
@pytest.mark.emulated
@pytest.mark.parametrize("what", ["exporter", "host"])
def test_exporter_killed_mid_run_loses_and_doubles_nothing(digits_project, tmp_path, what):
    """``exporter``: only labgrid-exporter dies (its boards still answer, but the coordinator no
    longer vouches for them, so the client stops using them); ``host``: the exporter and its QEMUs
    die at once (the links fail). Either way the remaining samples go to host B's places."""
    folder = tmp_path / "farm"
    addr = _two_hosts(folder)
    try:
        host_a = next(e for e in emulated.read_state(folder)["exporters"] if e["name"] == "hostA")
        victims = [host_a] + (host_a["places"] if what == "host" else [])
        killed = []

        def progress(k, n):
            if k == 12 and not killed:
                for proc in victims:
                    os.kill(proc["pid"], signal.SIGKILL)
                killed.append(k)

        res = tmp_path / "k.jsonl"
        rep = validate_farm(digits_project, addr, BOARD, 4, "digits", limit=60, results=res, progress=progress)
    finally:
        emulated.down(folder)
    assert killed == [12]
    assert rep["samples"] == rep["bit_exact"] == 60
    recs = _records(res)
    assert len(recs) == 60 and sorted(r["i"] for r in recs) == list(range(60))  # none lost, none doubled
    lost = {p["place"]: p["error"] for p in rep["farm"]["places"] if p["lost"]}
    assert set(lost) == {"hostA-1", "hostA-2"}
    if what == "exporter":
        assert all("exporter left the coordinator" in e for e in lost.values()), lost
    per = rep["farm"]["samples_per_place"]
    assert sum(per.values()) == 60
    if what == "host":  # a dead link fails its sample at once: host A ran at most the ones in flight
        assert per["hostB-1"] + per["hostB-2"] >= 60 - 12 - 2


def test_exporter_config_for_faked_usb_devices_is_valid_labgrid(tmp_path):
    found = {"probes": [{"unique_id": "066DFF123", "boards": ["nucleo-f446re"], "port": "/dev/ttyACM0"}],
             "ports": [{"device": "/dev/ttyACM0", "usb": "0483:374b", "serial_number": "066DFF123",
                        "boards": ["nucleo-f446re", "nucleo-g071rb"], "probe": "066DFF123"},
                       {"device": "/dev/ttyACM1", "usb": "0483:374b", "serial_number": "0670FF99AB",
                        "boards": ["nucleo-f446re", "nucleo-g071rb"], "probe": None},
                       {"device": "/dev/ttyUSB0", "usb": "0403:6001", "serial_number": "A9XK", "boards": [],
                        "probe": None}]}
    text, groups = exporter_config(found)
    assert [g["name"] for g in groups] == ["nucleo-f446re-066DFF123", "board-0670FF99AB"]
    assert groups[1]["board"] is None and "matches several boards" in text
    path = tmp_path / "exporter.yaml"
    path.write_text(text)
    from labgrid.remote.config import ResourceConfig
    from labgrid.remote.exporter import exports

    data = ResourceConfig(str(path)).data  # labgrid's own exporter-config reader
    g = data["nucleo-f446re-066DFF123"]
    assert g["uart"] == {"cls": "USBSerialPort", "match": {"ID_SERIAL_SHORT": "066DFF123"}, "speed": 115200}
    assert g["probe"] == {"cls": "USBDebugger", "match": {"ID_SERIAL_SHORT": "066DFF123"}}
    assert g["pyocd"] == {"cls": "NetworkSerialPort", "host": groups[0]["probe_server"]["host"], "port": 5555,
                          "protocol": "raw"}
    assert "pyocd server --uid 066DFF123 --port 5555 --allow-remote" in text
    assert "pyocd" not in data["board-0670FF99AB"]  # no probe, no probe server
    assert {"USBSerialPort", "USBDebugger"} <= set(exports)  # classes labgrid's exporter knows how to serve
    assert "set-tags board=nucleo-f446re" in text and "ttyUSB0" not in text


def test_cli_exporter_config_from_discovery(monkeypatch, tmp_path, capsys):
    from mcudeploy.target import pyocd as pyocd_mod

    port = types.SimpleNamespace(device="/dev/ttyACM0", vid=0x0483, pid=0x374B, serial_number="066DFF123",
                                 description="STM32 STLink")
    probe = types.SimpleNamespace(unique_id="066DFF123", description="STM32 STLink",
                                  associated_board_info=types.SimpleNamespace(name="NUCLEO-F446RE",
                                                                              target="stm32f446retx"))
    monkeypatch.setattr(pyocd_mod, "_comports", lambda: [port])
    monkeypatch.setattr(pyocd_mod, "_pyocd", lambda: types.SimpleNamespace(list_probes=lambda unique_id=None: [probe]))
    out = tmp_path / "e.yaml"
    r = CliRunner().invoke(cli, ["farm", "exporter-config", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "nucleo-f446re-066DFF123:" in out.read_text()
    mine = tmp_path / "mine.yaml"
    mine.write_text("precious: 1\n")
    code, text = run_main(capsys, "farm", "exporter-config", "-o", mine, "--force")
    assert code == 2 and "not written by this command" in text and len(text.strip().splitlines()) == 1
    assert mine.read_text() == "precious: 1\n"


def test_labgrid_exporter_serves_the_generated_config(tmp_path):
    """labgrid's own exporter, on the file written for a faked ST-LINK, publishes the board's port
    and probe to a real coordinator (as unavailable: no such USB device is plugged in here)."""
    found = {"probes": [{"unique_id": "066DFF123", "boards": [BOARD], "port": "/dev/ttyACM0"}],
             "ports": [{"device": "/dev/ttyACM0", "usb": "0483:374b", "serial_number": "066DFF123",
                        "boards": [BOARD], "probe": "066DFF123"}]}
    cfg = tmp_path / "exporter.yaml"
    cfg.write_text(exporter_config(found)[0])
    coord = emulated.start_coordinator(tmp_path)
    exp = emulated._spawn([emulated._tool("labgrid-exporter"), "-c", coord["address"], "-n", "deskhost",
                           str(cfg)], tmp_path / "exporter.log")
    try:
        with FarmClient(coord["address"]) as fc:
            seen = {}
            for _ in range(100):
                fc.sync()
                seen = {r: e.cls for g in fc.session.resources.get("deskhost", {}).values() for r, e in g.items()}
                if len(seen) == 3:
                    break
                time.sleep(0.1)
    finally:
        emulated._stop(exp)
        emulated._stop(coord)
    # the pyOCD probe server's address (farm/probe.py) is served as it was written
    assert seen == {"uart": "NetworkSerialPort", "probe": "NetworkUSBDebugger", "pyocd": "NetworkSerialPort"}


@needs_emulator
@pytest.mark.emulated
def test_ctrl_c_releases_every_place_and_resume_counts_each_sample_once(digits_project, farm, tmp_path):
    from mcudeploy.validate import ValidationCancelled

    res = tmp_path / "cut.jsonl"

    # Python's own Ctrl-C handler, as in a fresh `mcudeploy` process: a test run earlier in the same
    # pytest worker may leave another (an asyncio loop's add_signal_handler swallowed it in -n 2 runs)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def ctrl_c(k, n):
        if k == 15:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in the terminal does: the main thread gets it
            # a real run is long enough for the main thread to see it; these 40 samples may not be on a
            # loaded machine (the test then saw all 40 done before the interrupt): hold this place a moment
            time.sleep(1.0)

    try:
        with pytest.raises(ValidationCancelled, match="every place was released"):
            validate_farm(digits_project, farm, BOARD, 3, "digits", limit=40, results=res, progress=ctrl_c)
    finally:
        signal.signal(signal.SIGINT, previous)
    saved = len(_records(res))
    assert 15 <= saved < 40
    with FarmClient(farm) as me:
        assert all(me.holder(n) is None for n in me.places_for(BOARD))
    rep = validate_farm(digits_project, farm, BOARD, 3, "digits", limit=40, results=res, resume=True)
    assert rep["resumed_samples"] == saved and rep["samples"] == rep["bit_exact"] == 40
    assert sorted(r["i"] for r in _records(res)) == list(range(40))


@needs_emulator
@pytest.mark.emulated
def test_profile_on_a_farm_place_counts_what_the_local_emulator_counts(digits_project, farm, tmp_path, capsys):
    from mcudeploy.profile import profile

    js = tmp_path / "p.json"
    code, text = run_main(capsys, "profile", digits_project, "--farm", farm, "--board", BOARD, "--data", "digits",
                          "--no-estimate", "--json", js)
    assert code == 0, text
    rep = json.loads(js.read_text())
    local = profile(digits_project, BOARD, True, "digits", estimate_cycles=False)
    assert rep["farm"]["place"].startswith("host") and "(released)" in text
    assert rep["counter"] == local["counter"] == "emulated_instructions"
    assert rep["total_count"] == local["total_count"]
    assert [r["count"] for r in rep["layers"]] == [r["count"] for r in local["layers"]]
    with FarmClient(farm) as me:
        assert all(me.holder(n) is None for n in me.places_for(BOARD))


def test_farm_options_refuse_what_they_cannot_mean(digits_project, capsys):
    code, text = run_main(capsys, "validate", digits_project, "--boards", "2", "--data", "digits")
    assert code == 2 and "give --farm HOST:PORT too" in text
    code, text = run_main(capsys, "validate", digits_project, "--farm", "127.0.0.1:1", "--emulate", "--data", "digits")
    assert code == 2 and "drop --emulate, --port and --probe" in text
