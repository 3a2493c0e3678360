#!/usr/bin/env python3
"""Word statistics of a set of texts, in three steps: the task script of
workflows/wordstats.yaml (runs on Batch nodes). Standard library only.

- `tokenize FILE --out TOKENS`: the words of one text, case-folded, one per line.
- `count TOKENS --name NAME --out COUNTS.json`: one text's statistics from its tokens:
  `{"name", "words", "distinct", "counts": {word: count}}`.
- `report DIR --top N --expect K --out REPORT.csv`: one table over every
  `*.json` under DIR (refusing to run on other than K of them): a row per text
  (`text,words,distinct,top`), then `ALL` over all texts together. `top` lists the N
  most frequent words as `word:count`, ties broken alphabetically.

A word is a run of letters, with an inner apostrophe allowed (`keeper's`).
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
import sys
from pathlib import Path

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def tokenize(text: Path, out: Path) -> int:
    words = [w.casefold() for w in WORD.findall(text.read_text(encoding="utf-8"))]
    out.write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    return 0


def count(tokens: Path, name: str, out: Path) -> int:
    counts = collections.Counter(tokens.read_text(encoding="utf-8").split())
    stats = {
        "name": name,
        "words": sum(counts.values()),
        "distinct": len(counts),
        "counts": dict(sorted(counts.items())),
    }
    out.write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    return 0


def top(counts: collections.Counter[str], n: int) -> str:
    best = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return " ".join(f"{w}:{c}" for w, c in best)


def report(directory: Path, n: int, expect: int, out: Path) -> int:
    files = sorted(directory.rglob("*.json"))
    if len(files) != expect:
        print(
            f"wordstats: {len(files)} count files under {directory}, expected {expect}",
            file=sys.stderr,
        )
        return 1
    texts = sorted(
        (json.loads(f.read_text(encoding="utf-8")) for f in files), key=lambda s: s["name"]
    )
    total: collections.Counter[str] = collections.Counter()
    with out.open("w", newline="", encoding="utf-8") as f:
        table = csv.writer(f)
        table.writerow(["text", "words", "distinct", "top"])
        for stats in texts:
            counts = collections.Counter(stats["counts"])
            total.update(counts)
            table.writerow([stats["name"], stats["words"], stats["distinct"], top(counts, n)])
        table.writerow(["ALL", sum(total.values()), len(total), top(total, n)])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = ap.add_subparsers(dest="step", required=True)
    t = steps.add_parser("tokenize")
    t.add_argument("text", type=Path)
    t.add_argument("--out", type=Path, required=True)
    c = steps.add_parser("count")
    c.add_argument("tokens", type=Path)
    c.add_argument("--name", required=True)
    c.add_argument("--out", type=Path, required=True)
    r = steps.add_parser("report")
    r.add_argument("directory", type=Path)
    r.add_argument("--top", type=int, default=5)
    r.add_argument("--expect", type=int, required=True)
    r.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.step == "tokenize":
        return tokenize(args.text, args.out)
    if args.step == "count":
        return count(args.tokens, args.name, args.out)
    return report(args.directory, args.top, args.expect, args.out)


if __name__ == "__main__":
    sys.exit(main())
