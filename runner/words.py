"""Counted nouns for everything bwf prints: "1 task", "2 tasks", "0 pools"."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    """`count` and `word`, or `words` (default: `word` + "s") unless `count` is 1."""
    return f"{count} {word if count == 1 else (words or word + 's')}"
