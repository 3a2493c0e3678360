"""Secret tokens for containers whose key has `_`: redacted everywhere, measured at SAS size.

The token format lives in `runner.secrets` alone; these tests go through the commands a
user runs (`bwf plan --offline`, text and JSON; `bwf validate`).
"""

from __future__ import annotations

import json
from pathlib import Path

from runner.limits import COMMAND_LINE_MAX, SAS_URL_CHARS
from runner.secrets import secret_token
from tests.helpers import MINIMAL, write_spec
from tests.run_cli import bwf

# MINIMAL with its input container under a key holding `_`, and a command using its SAS
RAW_DATA = MINIMAL.replace("    input: {upload", "    raw_data: {upload").replace(
    "{container: input}", "{container: raw_data}"
)


def _spec(tmp_path: Path, command: str) -> Path:
    return write_spec(tmp_path, RAW_DATA.replace("cat {{ item.name }}", command))


def test_plan_redacts_tokens_of_a_key_with_underscore(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        "curl {{ containers.raw_data.read_sas }} {{ containers.raw_data.url }}"
        " {{ containers.output.write_sas }}",
    )
    text = bwf("plan", str(spec), "--offline")
    assert text.code == 0, text.err
    assert "@@" not in text.out
    assert "curl '<redacted>' '<redacted>' '<redacted>'" in text.out
    as_json = bwf("plan", str(spec), "--offline", "--json")
    assert as_json.code == 0, as_json.err
    assert "@@" not in as_json.out
    commands = [
        t["command_line"] for t in json.loads(as_json.out)["desired"]["job"]["steps"][0]["tasks"]
    ]
    assert commands and all(c.count("<redacted>") == 3 for c in commands)


def test_command_length_counts_a_real_sas_for_a_key_with_underscore(tmp_path: Path) -> None:
    token = secret_token("raw_data", "read")
    # short as written, over the limit once every token becomes a SAS URL of SAS_URL_CHARS
    count = COMMAND_LINE_MAX // SAS_URL_CHARS + 1
    assert count * (len(token) + 3) < COMMAND_LINE_MAX
    spec = _spec(tmp_path, " ".join(["echo"] + ["{{ containers.raw_data.read_sas }}"] * count))
    result = bwf("validate", str(spec))
    assert result.code == 2, result.out
    assert "command line of task 't-a' has" in result.err
    measured = int(result.err.split(" has ")[1].split()[0])
    assert measured > COMMAND_LINE_MAX
    assert measured >= count * SAS_URL_CHARS
