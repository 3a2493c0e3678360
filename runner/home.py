"""`BWF_HOME`: the one directory where bwf keeps state on disk.

Defaults to `$XDG_STATE_HOME/bwf` (or `~/.local/state/bwf`). Tests set `BWF_HOME` to a
temporary directory so that they never touch a user's state.
"""

from __future__ import annotations

import os
from pathlib import Path


def bwf_home() -> Path:
    """The state directory, created if missing (mode 0700: it holds keys)."""
    env = os.environ.get("BWF_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        home = Path(base) / "bwf"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    return home.resolve()
