"""The README's speed table, generated from one ``trackpipe bench`` JSON file (the pipeline section).

    trackpipe bench --json build/bench.json
    python -m tracking.benchmarks.readme_table build/bench.json --write README.md

prints the table (and with ``--write`` replaces the block between ``<!-- speed-table -->`` and
``<!-- /speed-table -->`` in the README). Columns: mu = 200 simulated and the real TrackML event; each
cell is our latency and the ratio ACORN / ours; ``[same model]`` rows compare our stage with our model
run in ACORN's harness.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

BEGIN, END = "<!-- speed-table -->", "<!-- /speed-table -->"
COLUMNS = (("mu=200", "mu = 200 simulated"), ("TrackML event 1000", "real TrackML event 1000"))


def _cell(row: dict | None) -> str:
    if row is None or row.get("ours_s") is None:
        return "-"
    seconds = row["ours_s"]
    text = f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"
    return f"{text} ({row['ratio']:.1f}x)" if row.get("ratio") else text


def table(result: dict) -> str:
    """Markdown table of the pipeline rows of a ``trackpipe bench`` result."""
    rows = [r for m in result["modules"] if m["name"] == "pipeline" for r in m["rows"]]
    latency = [r for r in rows if (r.get("extra") or {}).get("kind") in ("stage_latency", "same_model_latency")]
    latency = [r for r in latency if (r["extra"].get("device") or "cpu") == "cpu"]
    names: list[str] = []
    cells: dict[tuple[str, str], dict] = {}
    threads = set()
    for r in latency:
        name = r["name"]
        if name not in names:
            names.append(name)
        where = (
            "mu=200" if r["extra"].get("mu") == 200 else ("TrackML event 1000" if r["extra"].get("mu") is None else "")
        )
        cells[(name, where)] = r
        threads.add(r["extra"].get("threads"))
    header = "| stage | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [header, "| --- | " + " | ".join("---" for _ in COLUMNS) + " |"]
    for name in names:
        label = f"**{name}**" if name == "end to end" else name
        lines.append(f"| {label} | " + " | ".join(_cell(cells.get((name, key))) for key, _ in COLUMNS) + " |")
    machine = result.get("machine", {})
    lines.append("")
    lines.append(
        f"torch threads {', '.join(map(str, sorted(t for t in threads if t is not None)))}; "
        f"{machine.get('cpu_model', 'CPU')}, {machine.get('usable_cpus', '?')} usable CPUs; "
        f"generated from `{result.get('created', '?')}` bench JSON."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="a `trackpipe bench --json` file")
    parser.add_argument("--write", type=Path, help="README to update between the speed-table markers")
    args = parser.parse_args(argv)
    text = table(json.loads(args.json.read_text()))
    print(text)
    if args.write:
        readme = args.write.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        if not pattern.search(readme):
            raise SystemExit(f"{args.write}: no {BEGIN} ... {END} block to replace")
        args.write.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", readme))


if __name__ == "__main__":
    main()
