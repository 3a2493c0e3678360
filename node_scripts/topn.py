#!/usr/bin/env python3
"""Top N words of a text file: the task script of the topn workflows (runs on Batch nodes).

Standard library only. Two modes:

- `--filepath FILE --numwords N [--outdir DIR]` writes `<stem>_OUTPUT.txt`: one
  `word count` line per word, most frequent first, then the Batch node, task, job and
  pool it ran on, from the `AZ_BATCH_*` environment. With `--counts` it also writes
  every word's count to `<stem>.counts`, for a merge.
- `--merge DIR --numwords N --out FILE` (the merge task) sums the counts of every
  `*.counts` file under DIR and writes the top N over all of them (exactly the top N
  of all the texts together), with the number of files merged.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
from pathlib import Path

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    """The n most common words (case-folded), ties broken alphabetically."""
    counts = collections.Counter(w.casefold() for w in WORD.findall(text))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def read_counts(path: Path) -> dict[str, int]:
    """The `word count` lines of an output file (metadata lines start with #)."""
    counts: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, count = line.rpartition(" ")
        if word and not line.startswith("#") and count.isdigit():
            counts[word] = counts.get(word, 0) + int(count)
    return counts


def merge(indir: Path, out: Path, n: int) -> int:
    inputs = sorted(indir.rglob("*.counts"))
    if not inputs:
        print(f"topn: no *.counts under {indir}", file=sys.stderr)
        return 1
    total: collections.Counter[str] = collections.Counter()
    for p in inputs:
        total.update(read_counts(p))
    rows = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    lines = [f"{word} {count}" for word, count in rows] + [f"# merged: {len(inputs)} files"]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"topn: merged {len(inputs)} files into {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--filepath", help="the text file to read")
    parser.add_argument("--merge", metavar="DIR", help="merge the *_OUTPUT.txt files under DIR")
    parser.add_argument("--numwords", type=int, required=True, help="how many words to report")
    parser.add_argument("--outdir", default=".", help="where to write <stem>_OUTPUT.txt")
    parser.add_argument("--out", help="with --merge: the file to write")
    parser.add_argument(
        "--counts", action="store_true", help="also write <stem>.counts (every word's count)"
    )
    args = parser.parse_args(argv)
    if args.numwords < 1:
        parser.error("--numwords must be at least 1")
    if args.merge:
        if not args.out:
            parser.error("--merge needs --out")
        return merge(Path(args.merge), Path(args.out), args.numwords)
    if not args.filepath:
        parser.error("give --filepath FILE or --merge DIR")
    src = Path(args.filepath)
    try:
        text = src.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        print(f"topn: cannot read {src}: {e}", file=sys.stderr)
        return 1
    out_dir = Path(args.outdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{src.stem}_OUTPUT.txt"
    if args.counts:
        every = top_words(text, sys.maxsize)
        (out_dir / f"{src.stem}.counts").write_text(
            "".join(f"{w} {c}\n" for w, c in every), encoding="utf-8"
        )
    lines = [f"{word} {count}" for word, count in top_words(text, args.numwords)]
    for key in ("NODE_ID", "TASK_ID", "JOB_ID", "POOL_ID"):
        lines.append(f"# {key.lower()}: {os.environ.get('AZ_BATCH_' + key, '-')}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"topn: {src.name}: {len(text.split())} words, wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
