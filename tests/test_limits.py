"""Batch's hard limits (runner.limits) at their boundaries, and its estimates against the
real request: the SDK's own serialisation of the task bwf sends, with real SAS URLs.

No service is used: SAS URLs are signed locally (an account key, or a user-delegation
key as Storage returns it), and the azure-batch models are serialised by the SDK's
encoder exactly as its operations do before sending.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from dataclasses import replace
from pathlib import Path

import pytest
from azure.batch._utils.model_base import SdkJSONEncoder
from azure.storage.blob import UserDelegationKey

from runner import limits, sas_times, storage
from runner.batch import models as batch_models
from runner.pipeline import desired_state
from runner.resolver import Resolver
from runner.secrets import resolve, secret_token
from runner.state import ResourceFile
from runner.targets import Target
from tests.helpers import MINIMAL, TEST_KEY, fanned, write_spec

KEY = TEST_KEY
LOCAL = Target(
    name="local",
    batch_url="http://127.0.0.1:1",
    batch_account="bwflocal",
    storage_url="http://127.0.0.1:2/devstoreaccount1",
    storage_account="devstoreaccount1",
    batch_key=KEY,
    storage_key=KEY,
)


def sdk_json(value: object) -> str:
    """A model (or list of models) as the azure-batch operations serialise a body."""
    return json.dumps(value, cls=SdkJSONEncoder, exclude_readonly=True)


# --- SAS URLs ------------------------------------------------------------------------


def azure_target(endpoint_suffix: str, with_key: bool) -> Target:
    account = "a" * 24  # the longest storage account name
    return Target(
        name="azure",
        batch_url="https://b.westeurope.batch.azure.com",
        batch_account="b",
        storage_url=f"https://{account}.blob.{endpoint_suffix}",
        storage_account=account,
        batch_key=KEY,
        storage_key=KEY if with_key else None,
    )


def delegation_key() -> UserDelegationKey:
    """A user-delegation key shaped as Storage returns it (GUIDs, timestamps, version)."""
    key = UserDelegationKey()
    now = dt.datetime.now(dt.timezone.utc)
    key.signed_oid = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    key.signed_tid = "9f8e7d6c-5b4a-3f2e-1d0c-9b8a7f6e5d4c"
    key.signed_start = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    key.signed_expiry = (now + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    key.signed_service = "b"
    key.signed_version = storage.API_VERSION
    key.value = KEY  # the made-up test key, as a delegation key's value
    return key


@pytest.mark.parametrize(
    "suffix", ["core.windows.net", "core.chinacloudapi.cn", "core.usgovcloudapi.net"]
)
@pytest.mark.parametrize("with_key", [True, False], ids=["account-key", "user-delegation"])
def test_real_sas_urls_fit_the_length_the_limits_assume(suffix: str, with_key: bool) -> None:
    """The longest SAS URL bwf can issue on Azure (a 24-character account, a 63-character
    container, the longest cloud domain) is within SAS_URL_CHARS."""
    store = storage.Storage(azure_target(suffix, with_key))
    if not with_key:
        store._delegation_key = delegation_key()  # what get_user_delegation_key returns
        store._delegation_key_expiry = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    for kind in ("read", "write"):
        url = store.sas_url("c" * 63, kind, sas_times.MAX_LIFETIME)
        assert len(url) <= limits.SAS_URL_CHARS, url


# --- command lines -------------------------------------------------------------------


def padded_storage(target: Target = LOCAL) -> storage.Storage:
    """Storage whose SAS URLs are real, then padded to exactly SAS_URL_CHARS with one
    more query parameter: the length limits assumes for every SAS URL."""

    class Padded(storage.Storage):
        def sas_url(self, container: str, kind: str, lifetime: int) -> str:
            url = super().sas_url(container, kind, lifetime)
            return url + "&pad=" + "0" * (limits.SAS_URL_CHARS - len(url) - 5)

    return Padded(target)


def test_measured_length_is_the_length_sent_with_sas_urls(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "cat {{ item.name }}",
        "cp {{ item.name }} {{ containers.output.write_sas }}/x"
        " && curl {{ containers.input.read_sas }} {{ containers.output.write_sas }}",
    )
    desired = desired_state(write_spec(tmp_path, text))
    resolver = Resolver(desired, padded_storage())
    for task in fanned(desired):
        sent = batch_models.task_options(task, resolver).command_line
        assert "@@" not in sent and "sig=" in sent
        assert limits.measured_length(task.command_line) == len(sent)


def test_measured_length_of_text_without_secrets() -> None:
    assert limits.measured_length("") == 0
    assert limits.measured_length("echo hi") == 7


def test_each_secret_token_counts_as_a_sas_url() -> None:
    tokens = [secret_token("in", "read"), secret_token("out_2", "write"), secret_token("x", "url")]
    text = f"a {tokens[0]} b {tokens[1]}{tokens[2]} c"
    lookup = {("in", "read"): "u", ("out_2", "write"): "u", ("x", "url"): "u"}
    resolved = resolve(text, lambda key, kind: lookup[(key, kind)] * limits.SAS_URL_CHARS)
    assert limits.measured_length(text) == len(resolved)


def test_the_longest_command_line_with_a_secret(tmp_path: Path) -> None:
    """command_with_secret_first_too_long.yaml has one more x: 8,192 characters."""
    text = MINIMAL.replace(
        "cat {{ item.name }}", "echo {{ containers.output.write_sas }} {{ 'x' * 7682 }}"
    )
    desired = desired_state(write_spec(tmp_path, text))
    resolver = Resolver(desired, padded_storage())
    sent = [batch_models.task_options(t, resolver).command_line for t in fanned(desired)]
    assert [len(s) for s in sent] == [limits.COMMAND_LINE_MAX] * 2


# --- resource files ------------------------------------------------------------------

RESOURCE_FILES = """\
    resource_files:
      - item
      - {container: input, blob: "b c/d é.txt", path: "in/é ü.txt", mode: "0755"}
      - {container: input, blob: "{{ item.name }}"}
      - {container: input, prefix: "da", path: "pre"}
      - {container: input, prefix: ""}
      - {container: input}
      - {container: output, path: "all/", mode: "0644"}
      - {url: "https://example.com/a%20b?x=1&y=\\"q\\"", path: "u.bin"}
      - {url: "{{ containers.input.read_sas }}", path: "sas/x"}
"""


def test_the_resource_file_estimate_is_the_json_sent(tmp_path: Path) -> None:
    """Every kind of resource file, with names that need URL-encoding and JSON escapes:
    the estimate is the length of the `resourceFiles` array the SDK sends, when every
    SAS URL has SAS_URL_CHARS characters."""
    text = MINIMAL.replace("    resource_files: [item]\n", RESOURCE_FILES)
    desired = desired_state(write_spec(tmp_path, text))
    resolver = Resolver(desired, padded_storage())
    for task in fanned(desired):
        options = batch_models.task_options(task, resolver)
        files_json = sdk_json(options.resource_files)
        assert f'"resourceFiles": {files_json}' in sdk_json(options)
        assert limits.resource_files_json_chars(task.resource_files) == len(files_json)


def test_each_resource_file_kind_alone(tmp_path: Path) -> None:
    for entry in RESOURCE_FILES.splitlines()[2:]:
        text = MINIMAL.replace("[item]", f"[{entry.strip().removeprefix('- ')}]")
        desired = desired_state(write_spec(tmp_path, text))
        task = fanned(desired)[0]
        sent = batch_models.task_options(task, Resolver(desired, padded_storage())).resource_files
        assert limits.resource_files_json_chars(task.resource_files) == len(sdk_json(sent))


def test_resource_files_as_built_by_hand(tmp_path: Path) -> None:
    """Fields render never leaves empty: a blob without a file path, an empty path."""
    desired = desired_state(write_spec(tmp_path))
    task = fanned(desired)[0]
    resolver = Resolver(desired, padded_storage())
    for rf in (
        ResourceFile(container="input", blob="a b.txt"),
        ResourceFile(container="input", blob="x", file_path=""),
        ResourceFile(container="input", prefix="p/", file_path=""),
        ResourceFile(url="https://example.com/x", file_path=""),
    ):
        sent = batch_models.task_options(
            replace(task, resource_files=(rf,)), resolver
        ).resource_files
        assert limits.resource_files_json_chars((rf,)) == len(sdk_json(sent)), rf


def test_no_resource_files() -> None:
    assert limits.resource_files_json_chars(()) == 2  # []


# --- SAS lifetime --------------------------------------------------------------------


def test_the_longest_job_accepted_gets_sas_urls_within_7_days(tmp_path: Path) -> None:
    """A user-delegation key must end within 7 days of Storage's now, and so must every
    SAS it signs: the longest job timeout the check accepts (its first refusal is
    tests/invalid/timeout_first_too_long_for_sas.yaml) gets SAS URLs that end in time."""
    text = MINIMAL.replace("  id: j\n", "  id: j\n  timeout: 6d22h50m\n")
    desired = desired_state(write_spec(tmp_path, text))
    store = storage.Storage(azure_target("core.windows.net", with_key=True))
    url = store.sas_url("c" * 3, "read", desired.sas_expiry)
    after = dt.datetime.now(dt.timezone.utc)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    start, expiry = (
        dt.datetime.fromisoformat(query[k][0].replace("Z", "+00:00")) for k in ("st", "se")
    )
    assert expiry <= after + dt.timedelta(days=7)
    # and covers the whole job: its clock skew allowance at the end is within the 7 days
    assert expiry >= after + dt.timedelta(days=7, seconds=-sas_times.SKEW - 60)
    assert start <= after - dt.timedelta(minutes=4)  # clock skew at the start too


def test_the_longest_resource_files(tmp_path: Path) -> None:
    """resource_files_first_too_long.yaml has one more x: 32,769 characters."""
    url = "https://example.com/{{ 'x' * 32714 }}"
    text = MINIMAL.replace(
        "    resource_files: [item]\n", f'    resource_files: [{{url: "{url}", path: f}}]\n'
    )
    desired = desired_state(write_spec(tmp_path, text))
    resolver = Resolver(desired, storage.Storage(LOCAL))
    sent = [
        sdk_json(batch_models.task_options(t, resolver).resource_files) for t in fanned(desired)
    ]
    assert [len(s) for s in sent] == [limits.RESOURCE_FILES_MAX_CHARS] * 2


def test_text_measured_without_encoding_is_text_the_encoders_leave_as_is() -> None:
    """The estimate skips encoding for names that need none (it runs for every task):
    exactly the characters JSON and percent-encoding leave as they are."""
    for code in range(0x250):
        c = chr(code)
        assert bool(limits._JSON_AS_IS.fullmatch(c)) == (json.dumps(c) == f'"{c}"'), repr(c)
        assert bool(limits._URL_AS_IS.fullmatch(c)) == (urllib.parse.quote(c) == c), repr(c)
    assert limits._JSON_AS_IS.fullmatch("") and limits._URL_AS_IS.fullmatch("")


@pytest.mark.parametrize("name", ["a.txt", "d/é\"'\\\n.txt", "\U0001f600" * 40, "x" * 1024, "%&?#"])
def test_the_quick_bound_on_resource_files_is_never_below_their_measure(name: str) -> None:
    # limits._may_pass_files_limit skips measuring the files of a task under this bound
    shapes = [
        ResourceFile(container="input", blob=name, md5="x=="),
        ResourceFile(container="input", blob=name, file_path=name, file_mode="0755"),
        ResourceFile(container="input", prefix=name, file_path=name, file_mode=name),
        ResourceFile(container="input", prefix="", file_path=None),
    ]
    for f in shapes:
        names = sum(len(v or "") for v in (f.blob, f.blob, f.prefix, f.file_path, f.file_mode))
        assert limits.resource_file_json_chars(f) <= limits.FILE_JSON_MAX_CHARS + 12 * names
    many = tuple(shapes * 10)
    measured = limits.resource_files_json_chars(many)
    assert measured <= limits.RESOURCE_FILES_MAX_CHARS or limits._may_pass_files_limit(many)
