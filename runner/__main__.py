"""`python -m runner` is `bwf`."""

from __future__ import annotations

from runner.cli import run

run()
