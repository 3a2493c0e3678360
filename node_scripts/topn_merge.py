#!/usr/bin/env python3
"""Merge the `*_OUTPUT.txt` files of topn tasks into one table (the merge task; runs on a node).

Standard library only. Reads every `*_OUTPUT.txt` under --indir (except --out itself),
sums the counts per word across files, and writes the --numwords most frequent words
with the files they came from.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path


def read_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        word, _, count = line.rpartition(" ")
        if word and count.isdigit():
            counts[word] = counts.get(word, 0) + int(count)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--indir", default=".", help="directory searched for *_OUTPUT.txt")
    parser.add_argument("--out", required=True, help="the table to write")
    parser.add_argument("--numwords", type=int, default=10, help="rows in the table")
    args = parser.parse_args(argv)
    out = Path(args.out)
    inputs = sorted(
        p for p in Path(args.indir).rglob("*_OUTPUT.txt") if p.resolve() != out.resolve()
    )
    if not inputs:
        print(f"topn_merge: no *_OUTPUT.txt under {args.indir}", file=sys.stderr)
        return 1
    total: collections.Counter[str] = collections.Counter()
    sources: dict[str, set[str]] = collections.defaultdict(set)
    for p in inputs:
        for word, count in read_counts(p).items():
            total[word] += count
            sources[word].add(p.name)
    rows = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[: args.numwords]
    lines = [f"# merged {len(inputs)} files"]
    lines += [f"{word} {count} {','.join(sorted(sources[word]))}" for word, count in rows]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"topn_merge: {len(inputs)} files, {len(total)} words, wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
