#!/usr/bin/env python3
"""Side-by-side table of the enco and PyTorch training-step benchmarks.

Reads benchmark rows and prints one Markdown table::

    | size | phase | enco s/iter | PyTorch s/iter | enco/PyTorch | enco peak RSS | PyTorch peak RSS | memory ratio |

Accepted input (files, or stdin when no file is given or a file is ``-``), line by line:

* the rows ``cargo bench --bench train_step`` appends to ``target/bench/train_step.jsonl``
  (``{"backend": .., "size": .., "phase": .., "s_per_iter": .., "peak_rss_gib": ..}``); lines
  that are not JSON (a table, cargo's progress) are ignored, and a ``JSON `` prefix is
  accepted;
* ``torch_step.py --bench`` lines (``{"impl": "pytorch", "s_per_iter_median": ..}``);
* a whole JSON document with a ``rows`` list, like ``pytorch_cpu.json`` (PyTorch rows).

Only EnCo rows are compared: enco rows of another ``model`` (``cut``, ``fastcut``,
``cyclegan``) are skipped. Rows are told apart by ``impl`` (``"pytorch"`` vs anything else; rows without ``impl`` but with
``backend`` are enco rows). ``--enco FILE`` / ``--pytorch FILE`` force the side. When a
(size, phase) row appears several times the last one wins. Without any PyTorch row the
recorded figures of the official code, ``benches/reference/pytorch_cpu.json``, are used.

Ratios are enco / PyTorch: below 1 means enco is faster or uses less memory.

Note on memory: ``train_step`` resets the peak RSS once per size and runs phase 1 then
phase 2 in the same process, so its phase-2 peak includes phase 1; ``torch_step.py`` runs
each phase in its own process.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable, TextIO

HERE = Path(__file__).resolve().parent
DEFAULT_PYTORCH_REFERENCE = HERE / "pytorch_cpu.json"


def parse_rows(text: str) -> list[dict]:
    """All benchmark rows found in ``text`` (a JSON document with ``rows`` or JSON lines)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
            source = doc.get("source")
            rows = []
            for r in doc["rows"]:
                row = {"impl": "pytorch", **r}
                if source:
                    row.setdefault("source", source)
                rows.append(row)
            return rows
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("JSON "):
            line = line[len("JSON "):].strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "size" in row and "phase" in row:
            rows.append(row)
    return rows


def is_pytorch(row: dict) -> bool:
    return str(row.get("impl", "")).lower() in ("pytorch", "torch")


def seconds(row: dict) -> float | None:
    value = row.get("s_per_iter_median", row.get("s_per_iter"))
    return float(value) if value is not None else None


def rss(row: dict) -> float | None:
    value = row.get("peak_rss_gib")
    return float(value) if value is not None else None


def read_source(name: str, stdin: TextIO) -> str:
    return stdin.read() if name == "-" else Path(name).read_text()


def fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{unit}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def build_table(enco_rows: Iterable[dict], torch_rows: Iterable[dict]) -> str:
    """The Markdown table (one line per enco backend, size and phase)."""
    enco: dict[tuple[str, int, int], dict] = {}
    for r in enco_rows:
        if str(r.get("model", "enco")) != "enco":
            continue  # the bench's other models (CUT, FastCUT, CycleGAN) have no PyTorch row
        enco[(str(r.get("backend", "enco")), int(r["size"]), int(r["phase"]))] = r
    ref: dict[tuple[int, int], dict] = {}
    for r in torch_rows:
        ref[(int(r["size"]), int(r["phase"]))] = r

    backends = sorted({k[0] for k in enco})
    with_backend = len(backends) > 1
    keys = sorted({(b, s, p) for b, s, p in enco} | {(b, s, p) for (s, p) in ref for b in (backends or ["–"])},
                  key=lambda k: (k[1], k[2], k[0]))

    head = ["size", "phase", "enco s/iter", "PyTorch s/iter", "enco/PyTorch",
            "enco peak RSS", "PyTorch peak RSS", "memory ratio"]
    if with_backend:
        head.insert(0, "backend")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for backend, size, phase in keys:
        e, t = enco.get((backend, size, phase), {}), ref.get((size, phase), {})
        es, ts, er, tr = seconds(e), seconds(t), rss(e), rss(t)
        cells = [str(size), str(phase), fmt(es, ".3f"), fmt(ts, ".3f"), fmt(ratio(es, ts), ".2f", "×"),
                 fmt(er, ".2f", " GiB"), fmt(tr, ".2f", " GiB"), fmt(ratio(er, tr), ".2f", "×")]
        if with_backend:
            cells.insert(0, backend)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe(enco_rows: list[dict], torch_rows: list[dict], fallback: Path | None) -> list[str]:
    """Short lines naming where the two sides' numbers come from."""
    notes = []
    backends = sorted({str(r.get("backend", "?")) for r in enco_rows})
    if backends:
        notes.append(f"enco: backend {', '.join(backends)}")
    if fallback is not None:
        source = next((r.get("source") for r in torch_rows if r.get("source")), None)
        notes.append(f"PyTorch: recorded figures from {fallback.name}" + (f" ({source})" if source else ""))
    elif torch_rows:
        versions = sorted({str(r.get("torch", "?")) for r in torch_rows})
        threads = sorted({str(r.get("threads", "?")) for r in torch_rows})
        notes.append(f"PyTorch: torch_step.py, torch {', '.join(versions)}, {', '.join(threads)} thread(s)")
    return notes


def main(argv: list[str] | None = None, stdin: TextIO = sys.stdin) -> int:
    p = argparse.ArgumentParser(description="Markdown table of enco vs PyTorch training-step benchmarks.")
    p.add_argument("inputs", nargs="*", help="files with benchmark rows ('-' = stdin; default: stdin)")
    p.add_argument("--enco", action="append", default=[], metavar="FILE", help="file of enco rows")
    p.add_argument("--pytorch", action="append", default=[], metavar="FILE", help="file of PyTorch rows")
    p.add_argument("--pytorch-reference", type=Path, default=DEFAULT_PYTORCH_REFERENCE, metavar="FILE",
                   help="PyTorch figures used when no PyTorch row is given")
    args = p.parse_args(argv)

    inputs = args.inputs or ([] if args.enco or args.pytorch else ["-"])
    enco_rows: list[dict] = []
    torch_rows: list[dict] = []
    for name in inputs:
        for row in parse_rows(read_source(name, stdin)):
            (torch_rows if is_pytorch(row) else enco_rows).append(row)
    for name in args.enco:
        enco_rows += parse_rows(read_source(name, stdin))
    for name in args.pytorch:
        torch_rows += [{"impl": "pytorch", **r} for r in parse_rows(read_source(name, stdin))]

    fallback = None
    if not torch_rows:
        fallback = args.pytorch_reference
        torch_rows = parse_rows(fallback.read_text())
    if not enco_rows and not torch_rows:
        print("no benchmark rows found", file=sys.stderr)
        return 1

    print(build_table(enco_rows, torch_rows))
    notes = describe(enco_rows, torch_rows, fallback)
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
