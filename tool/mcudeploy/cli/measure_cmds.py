"""``mcudeploy validate`` and ``profile``: thin wrappers over validate.py and profile.py."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from .. import layerdiff
from .. import progress as progress_mod
from ..html_report import validation_page
from ..profile import add_estimates
from ..profile import profile as run_profile
from ..report import table, write_json
from ..validate import ValidationInterrupted
from ..validate import validate as run_validate
from .device_cmds import baud_option, board_with_baud, port_option, probe_option
from .params import FiniteFloat, emulate_option, emulate_value

_board = click.option("--board", "-b", default="nucleo-f446re", show_default=True, help="board (see `mcudeploy boards`)")
_emulate = emulate_option("run on the board's emulator instead of hardware: bare --emulate is QEMU (the "
                          "-DMCD_EMULATED image, counts emulated_instructions); --emulate virtual runs the silicon "
                          "image on the virtual NUCLEO-F446RE (timing model, clock rules checked, counts "
                          "estimated_dwt_cycles)")


def _link_options(f):
    """--retries, --timeout, --reconnect-timeout: how hard the link tries before giving up."""
    f = click.option("--reconnect-timeout", type=FiniteFloat(0), metavar="S",
                     help="seconds to wait for a port that failed (board unplugged, emulator restarted) to "
                          "come back before stopping [default: 10]")(f)
    f = click.option("--timeout", type=FiniteFloat(0, min_open=True), metavar="S",
                     help="seconds a reply frame may take beyond its wire time at the baud rate, before the "
                          "request is retried [default: 0.25]; raise it for a slow remote port (rfc2217)")(f)
    f = click.option("--retries", type=click.IntRange(0), metavar="N",
                     help="attempts per request after the first, on a damaged or lost frame, with "
                          "resynchronisation [default: 32]")(f)
    return f


def _links(retries, timeout, reconnect_timeout) -> dict:
    opts = {"retries": retries, "timeout": timeout, "reconnect_timeout": reconnect_timeout}
    return {k: v for k, v in opts.items() if v is not None}


def _fmt_count(v, counter):
    return f"{v:,} {counter}"


@click.command("validate")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@_board
@_emulate
@port_option
@probe_option
@baud_option
@click.option("--data", required=True, help="an .npz with 'x' (and optional 'y'), or digits / mnist / fashion-mnist "
              "(their held-out test split)")
@click.option("--limit", type=int, help="validate the first N samples only")
@click.option("--results", type=click.Path(dir_okay=False), help="per-sample results file (JSON lines, appended "
              "as each sample completes; created once the board answers). Default: one file per run (model, "
              "board, data, --limit) in PROJECT/validate/. A file that is not a results file is never written")
@click.option("--resume", is_flag=True, help="continue an interrupted run (Ctrl-C, board unplugged, emulator "
              "killed) from its results file: only the missing samples are run, each is counted once")
@click.option("--fresh", is_flag=True, help="discard the results file's saved samples (of this run or another) "
              "and start again; without it or --resume, saved results make the command refuse")
@_link_options
@click.option("--farm", metavar="HOST:PORT", help="run on labgrid farm places carrying --board, acquired from "
              "this coordinator (`mcudeploy farm up` starts one); samples are shared among them")
@click.option("--boards", type=click.IntRange(1), default=1, show_default=True, metavar="N",
              help="with --farm: acquire up to N free places (places others hold are left alone)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the JSON report here")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="write an HTML report with plots here")
@click.option("--layers", is_flag=True, help="also compare sample 0 layer by layer (the device reruns it and "
              "sends each layer's output CRC, then the first differing layer): names the first layer that "
              "differs, with positions and values. Done anyway for the first sample that differs")
def validate_cmd(project, board, emulate, port, probe, baud, data, limit, results, resume, fresh, retries, timeout,
                 reconnect_timeout, farm, boards, json_path, html_path, layers=False):
    """Run DATA through the board and compare its outputs with the numpy reference (bit-exact),
    the float model and the labels.

    The link retries damaged or lost frames and reconnects to a port that comes back. If the board
    goes away for good mid-run, the command stops with exit code 3 and the results so far saved; the
    same command with --resume then runs only the remaining samples. A board that cannot be reached
    at the start (no probe, no emulator, wrong model, port busy) is an error (exit code 2) that
    saves nothing.
    """
    board_with_baud(board, baud)  # a bad --baud is a usage error, before any work
    if resume and fresh:
        raise click.UsageError("--resume keeps the saved results and --fresh discards them: give one of them")
    if farm and (emulate or port or probe):
        raise click.UsageError("--farm takes its boards from the farm's places: drop --emulate, --port and --probe")
    if boards != 1 and not farm:
        raise click.UsageError(f"--boards {boards} shares samples over farm places: give --farm HOST:PORT too")
    if farm and layers:
        raise click.UsageError("--layers compares one sample layer by layer on one board: drop --farm, or run "
                               "`validate --layers` on a single board (--emulate or --port)")
    results = Path(results) if results else None
    try:
        where = f"{' (emulated)' if emulate else ''}" if not farm else f" (farm {farm})"
        with progress_mod.task(f"validate {Path(project).name} on {board}{where}", unit="samples") as bar:
            progress = progress_mod.callback(bar)
            if farm:
                from ..farm.run import validate_farm  # labgrid is imported only for a farm run
                rep = validate_farm(project, farm, board, boards, data, limit, results, resume, fresh, progress,
                                    **_links(retries, timeout, reconnect_timeout))
            else:
                rep = run_validate(project, board, emulate_value(emulate), data, limit, port, results, resume,
                                   progress, baud=baud, probe=probe, fresh=fresh, layers=layers,
                                   **_links(retries, timeout, reconnect_timeout))
    except ValidationInterrupted as exc:  # mid-run: the results so far are saved for --resume
        click.secho(f"\n{exc}", fg="yellow", err=True)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:  # before the board answered: nothing was run or saved
        click.secho("\ninterrupted (Ctrl-C) before any sample ran: nothing was saved", fg="yellow", err=True)
        raise SystemExit(130) from None
    click.echo("\n".join(_validate_lines(rep)))
    if "farm" in rep:
        from ..farm.report import farm_lines
        click.echo("\n".join(farm_lines(rep["farm"])))
    if html_path:  # the report sets each layer's count beside the timing model's estimate
        add_estimates(rep, project, board, _first_sample(project, data))
    if json_path:
        write_json(json_path, rep)
    if html_path:
        Path(html_path).write_text(validation_page(f"mcudeploy validate: {project}", rep))
    n = rep["samples"]
    if rep["bit_exact"] != n:
        d = rep.get("layer_diff", {}).get("first_differing_layer")
        where = f", first differing layer {d['index']} '{d['name']}' ({d['kind']})" if d else ""
        raise click.ClickException(f"{n - rep['bit_exact']} samples differ from the reference "
                                   f"(first: sample {rep['bit_exact_first_mismatch']}{where}); see the layer by "
                                   "layer line above")


def _first_sample(project, data: str):
    """The first sample validated: the estimate beside the counts (real samples' medians) is for a
    real input too, and `profile --data` of the same set asks for the same (cached) harness run."""
    from ..datasets import load_for_project
    from ..project import Project

    return load_for_project(Project(project), data, split="test", limit=1)[0]


VIRTUAL = "estimated_dwt_cycles"  # the counter of the virtual board (target/virtual/)


def _kind(rep: dict) -> str:
    return " (virtual board)" if rep["counter"] == VIRTUAL else " (emulated)" if rep["emulated"] else ""


def _validate_lines(rep: dict) -> list[str]:
    c = rep["counter"]
    n = rep["samples"]
    lines = [
        f"board            {rep['board']}{_kind(rep)}",
        f"samples          {n}" + (f" ({rep['resumed_samples']} from an earlier run)" if rep["resumed_samples"] else ""),
        f"bit-exact        {rep['bit_exact']}/{n} vs the numpy reference",
        (f"top-1 agreement  {100 * rep['agreement_float']:.2f}% vs the {rep.get('float_model', 'float model')} "
         f"(rmse {rep['rmse']:.4g}, mae {rep['mae']:.4g}, l2r {rep['l2r']:.4g}, cos {rep['cos']:.6f})"),
    ]
    if rep["accuracy_device"] is not None:
        lines.append(f"accuracy         device {100 * rep['accuracy_device']:.2f}% | float "
                     f"{100 * rep['accuracy_float']:.2f}% (labels)")
    lines += [
        f"per inference    {_fmt_count(rep['count_per_inference'], c)} (median)",
        f"flash            {rep['flash_bytes']:,} / {rep['board_flash_bytes']:,} bytes",
        (f"ram              {rep['ram_bytes']:,} / {rep['board_ram_bytes']:,} bytes (stack peak "
         f"{rep['stack_peak_bytes']:,} bytes, arena {rep['arena_bytes']:,} bytes)"),
    ]
    t = rep["throughput"]
    if t["samples_per_s"]:
        run = f" (this run: {t['samples']} samples in {t['seconds']:g} s)" if rep["resumed_samples"] else ""
        lines.append(f"throughput       {t['samples_per_s']:g} samples/s{run}")
        pace = "" if t["paced_by_baud"] else ("; not paced by baud on the virtual board" if c == VIRTUAL
                                              else "; not paced by baud under QEMU")
        lines.append(f"wire             {t['bytes_per_s']:,.0f} bytes/s (busier direction) = "
                     f"{100 * t['fraction_of_bound']:.1f}% of the {t['baud_bound_bytes_per_s']:,.0f} bytes/s "
                     f"a {t['baud']}-baud 8N1 UART carries{pace}")
    lk = rep.get("link")
    if lk:
        lines.append(f"link             {lk['retries']} retries, {lk['bad_frames']} bad frames, {lk['stale']} stale, "
                     f"{lk['timeouts']} timeouts, {lk['reconnects']} reconnects, {lk['resets']} device resets")
    if "layer_diff" in rep:
        lines.append(layerdiff.summary(rep["layer_diff"]))
    return lines


@click.command("profile")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@_board
@_emulate
@port_option
@probe_option
@baud_option
@_link_options
@click.option("--data", help="profile on the first sample of DATA (default: an all-zero input)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the JSON report here")
@click.option("--no-estimate", is_flag=True, help="skip the Cortex-M4 cycle estimate beside the board's counts")
@click.option("--farm", metavar="HOST:PORT", help="profile on one free labgrid farm place carrying --board "
              "(acquired from this coordinator, released at the end)")
def profile_cmd(project, board, emulate, port, probe, baud, retries, timeout, reconnect_timeout, data, json_path,
                no_estimate, farm):
    """Per-layer cost on the board (name, op, MACs, count, count/MAC, share), with flash and RAM."""
    board_with_baud(board, baud)
    with contextlib.ExitStack() as held:
        if farm:
            from ..farm.run import one_place
            place = held.enter_context(one_place(project, farm, board))
            port, emulate = place.url, False
        with progress_mod.task(f"profile {Path(project).name} on {board}{' (emulated)' if emulate else ''}"):
            rep = run_profile(project, board, emulate_value(emulate), data, port, not no_estimate, probe=probe,
                              baud=baud, **_links(retries, timeout, reconnect_timeout))
        if farm:
            rep["farm"] = {"coordinator": farm, "place": place.name}
    c = rep["counter"]
    cols = [("name", "layer"), ("op", "op"), ("macs", "MACs"), ("count", c), ("count_per_mac", f"{c}/MAC"),
            ("share", "share")]
    if any("estimated_cycles" in r for r in rep["layers"]):
        cols.append(("estimated_cycles", "estimated_cycles"))
    if any(r.get("vs_estimate_pct") is not None for r in rep["layers"]):
        cols.append(("vs_estimate_pct", "vs estimate %"))
    rows = [dict(r, share=f"{100 * r['share']:.1f}%" if r["share"] is not None else "") for r in rep["layers"]]
    click.echo(table(rows, cols, footer={"name": "total", "macs": rep["macs"], "count": rep["total_count"],
                                         "estimated_cycles": rep.get("estimated_cycles") or ""}))
    click.echo(f"\ncounter: {c}" + (" (QEMU -icount: instructions, not cycles)" if c == "emulated_instructions" else "")
               + (" (the virtual board: the firmware's DWT code path, cycles from the timing model)"
                  if c == "estimated_dwt_cycles" else "")
               + ("; estimated_cycles: Cortex-M4 timing model (TRM table), not a measurement"
                  if rep.get("estimated_cycles") else ""))
    if farm:
        click.echo(f"farm place {place.name} of {farm} (released)")
    click.echo(f"flash {rep['flash_bytes']:,} / {rep['board_flash_bytes']:,} bytes | ram {rep['ram_bytes']:,} / "
               f"{rep['board_ram_bytes']:,} bytes | stack peak {rep['stack_peak_bytes']:,} bytes")
    if json_path:
        write_json(json_path, rep)


COMMANDS = [validate_cmd, profile_cmd]
