"""The farm part of a validate report, as lines for the terminal (its JSON twin is ``rep["farm"]``)."""

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
