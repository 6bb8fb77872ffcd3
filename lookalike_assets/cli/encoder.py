"""`lookalike encoder`: which backend the text encoder runs here, and why (its calibration on this machine)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from lookalike_assets.cli.common import console, fail

app = typer.Typer(help="The text encoder: its backend on this machine and the calibration that chose it.",
                  no_args_is_help=True)


def _show(record: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(record, indent=2))
        return
    p = record["profile"]
    console.print(f"{p['cpu']} ({p['arch']}), {p['logical_cpus']} CPUs, flags: {', '.join(p['flags']) or 'none'}")
    table = Table("backend", "texts/s", "speedup", "mean cosine", "min cosine", "")
    for r in record["results"]:
        mark = "chosen" if r["backend"] == record["chosen"] else (
            "below the cosine floor" if r["mean_cosine"] < record["min_mean_cosine"] else "")
        table.add_row(r["backend"], f"{r['texts_per_second']:.0f}", f"{r['speedup']:.2f}×", f"{r['mean_cosine']:.4f}",
                      f"{r['min_cosine']:.4f}", mark)
    console.print(table)
    console.print(f"calibrated {record['calibrated_at']} on {record['texts']} texts; floor: mean cosine "
                  f"{record['min_mean_cosine']} to torch fp32")


def _record(recalibrate: bool) -> dict:
    from lookalike_assets.domain.encoder_builds import EncoderError, default_cache_dir
    from lookalike_assets.domain.encoder_choice import chosen_backend

    try:
        return chosen_backend(default_cache_dir(), recalibrate=recalibrate)
    except EncoderError as exc:
        fail(str(exc))


@app.command("show")
def encoder_show(as_json: Annotated[bool, typer.Option("--json", help="The whole record as JSON.")] = False) -> None:
    """This machine's calibration: each backend's speed and fidelity, and the one `minilm` runs on (calibrates
    first if this machine has not been)."""
    _show(_record(recalibrate=False), as_json)


@app.command("calibrate")
def encoder_calibrate(as_json: Annotated[bool, typer.Option("--json", help="The record as JSON.")] = False) -> None:
    """Measure every backend again and record the choice (a changed choice changes the model version: the next
    embedding pass re-embeds every lead with the new backend)."""
    with console.status("calibrating the text encoder (every backend on the same texts)"):
        record = _record(recalibrate=True)
    _show(record, as_json)
