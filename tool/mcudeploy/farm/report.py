"""The farm part of a validate or suite report, as lines for the terminal (its JSON twin is ``rep["farm"]``)."""

from __future__ import annotations


def farm_lines(farm: dict) -> list[str]:
    """One line per place used (samples, rate, lost or not), and the places left to their holders."""
    lines = [f"farm             {farm['coordinator']}: {len(farm['places'])} place(s) used"]
    for p in farm["places"]:
        rate = f", {p['samples_per_s']:g} samples/s" if p["samples_per_s"] else ""
        lost = f"; LOST ({p['error']}), its remaining samples went to the others" if p["lost"] else ""
        lines.append(f"  {p['place']:<14} {p['samples']} samples in {p['seconds']:g} s{rate} ({p['uart']}){lost}")
    for name, holder in farm["held_by_others"].items():
        lines.append(f"  {name:<14} held by {holder}: not touched")
    return lines


def suite_farm_lines(farm: dict) -> list[str]:
    """``bench --suite --farm``: one line per place used (its models, seconds, lost or not)."""
    lines = [f"farm             {farm['coordinator']}: {len(farm['places'])} place(s) used, {farm['seconds']:g} s"]
    for p in farm["places"]:
        lost = f"; LOST ({p['error']}), its model went to another place" if p["lost"] else ""
        lines.append(f"  {p['place']:<14} {len(p['models'])} model(s) in {p['seconds']:g} s: "
                     f"{', '.join(p['models']) or '-'} ({p['uart']}){lost}")
    for name, holder in farm["held_by_others"].items():
        lines.append(f"  {name:<14} held by {holder}: not touched")
    return lines
