#!/usr/bin/env python3
"""Top N words of a text file: the task script of the topn workflow (runs on Batch nodes).

Standard library only. Writes `<stem>_OUTPUT.txt` next to the working directory (or
under --outdir): one `word count` line per word, most frequent first, then the Batch
node, task, job and pool it ran on, from the `AZ_BATCH_*` environment.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--filepath", required=True, help="the text file to read")
    parser.add_argument("--numwords", type=int, required=True, help="how many words to report")
    parser.add_argument("--outdir", default=".", help="where to write <stem>_OUTPUT.txt")
    args = parser.parse_args(argv)
    if args.numwords < 1:
        parser.error("--numwords must be at least 1")
    src = Path(args.filepath)
    try:
        text = src.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        print(f"topn: cannot read {src}: {e}", file=sys.stderr)
        return 1
    out_dir = Path(args.outdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{src.stem}_OUTPUT.txt"
    lines = [f"{word} {count}" for word, count in top_words(text, args.numwords)]
    for key in ("NODE_ID", "TASK_ID", "JOB_ID", "POOL_ID"):
        lines.append(f"# {key.lower()}: {os.environ.get('AZ_BATCH_' + key, '-')}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"topn: {src.name}: {len(text.split())} words, wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
