"""How the azure target builds its clients and credentials (no network is used)."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from runner import batch, sas_times, secrets, storage
from runner.errors import UsageError
from runner.targets import Target, azure_target, resolve_target
from tests.helpers import TEST_KEY

KEY = TEST_KEY


@pytest.fixture()
def azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BWF_BATCH_URL", "https://mybatch.westeurope.batch.azure.com/")
    monkeypatch.setenv("BWF_STORAGE_URL", "https://mystore.blob.core.windows.net")
    monkeypatch.setenv("BWF_BATCH_KEY", KEY)
    monkeypatch.setenv("BWF_STORAGE_KEY", KEY)


def test_azure_target_reads_the_environment(azure_env: None) -> None:
    t = resolve_target("azure")
    assert (t.name, t.batch_account, t.storage_account) == ("azure", "mybatch", "mystore")
    assert t.batch_url == "https://mybatch.westeurope.batch.azure.com" and not t.uses_entra_id
    assert KEY not in repr(t)


def test_missing_variables_are_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BWF_BATCH_URL", raising=False)
    with pytest.raises(UsageError, match="BWF_BATCH_URL"):
        azure_target()


def test_keys_make_shared_key_clients(azure_env: None) -> None:
    t = azure_target()
    b = batch.make_client(t)
    policy = b._config.authentication_policy
    assert type(policy).__name__ == "BatchSharedKeyAuthPolicy" and policy._account_name == "mybatch"
    s = storage.make_client(t)
    assert s.account_name == "mystore" and s.credential.account_key == KEY
    assert s.url.startswith("https://mystore.blob.core.windows.net")


def test_without_keys_entra_id_is_used(monkeypatch: pytest.MonkeyPatch, azure_env: None) -> None:
    monkeypatch.delenv("BWF_BATCH_KEY")
    monkeypatch.delenv("BWF_STORAGE_KEY")
    t = azure_target()
    assert t.uses_entra_id
    from azure.identity import DefaultAzureCredential

    s = storage.make_client(t)
    assert isinstance(s.credential, DefaultAzureCredential)
    b = batch.make_client(t)
    assert type(b._config.authentication_policy).__name__ == "BearerTokenCredentialPolicy"


def test_sas_urls_have_least_privilege_and_cover_the_job(azure_env: None) -> None:
    st = storage.Storage(azure_target())
    read = urllib.parse.parse_qs(urllib.parse.urlsplit(st.sas_url("inputs", "read", 3600)).query)
    write = urllib.parse.parse_qs(urllib.parse.urlsplit(st.sas_url("outputs", "write", 3600)).query)
    assert read["sp"] == ["rl"] and write["sp"] == ["cw"]
    assert read["sr"] == ["c"]
    import datetime as dt

    expiry = dt.datetime.fromisoformat(read["se"][0].replace("Z", "+00:00"))
    assert expiry - dt.datetime.now(dt.timezone.utc) > dt.timedelta(seconds=3600)


def test_scrub_removes_sas_signatures_and_keys() -> None:
    secrets.register(KEY)
    text = f"GET https://a.blob.core.windows.net/c?sv=1&sig=abc%2Bdef&sp=r failed; key {KEY}; AccountKey=xyz;"
    clean = secrets.scrub(text)
    assert "abc%2Bdef" not in clean and KEY not in clean and "xyz" not in clean
    assert "sig=<redacted>" in clean


def test_local_target_is_the_same_code_path(azure_env: None) -> None:
    """The local stack gets the very clients, credentials and auth policies that an Azure
    account with keys gets; only endpoints and account names differ."""
    local = Target(
        "local",
        "http://127.0.0.1:1",
        "bwflocal",
        "http://127.0.0.1:2/devstoreaccount1",
        "devstoreaccount1",
        KEY,
        KEY,
    )
    azure = azure_target()
    local_batch, azure_batch = batch.make_client(local), batch.make_client(azure)
    assert type(local_batch) is type(azure_batch)
    for client, target in ((local_batch, local), (azure_batch, azure)):
        assert isinstance(client._config.credential, AzureNamedKeyCredential)
        policy = client._config.authentication_policy
        assert type(policy).__name__ == "BatchSharedKeyAuthPolicy"
        assert policy._account_name == target.batch_account
        assert client._config.endpoint == target.batch_url
    local_blobs, azure_blobs = storage.make_client(local), storage.make_client(azure)
    assert type(local_blobs) is type(azure_blobs)
    assert type(local_blobs.credential) is type(azure_blobs.credential)
    assert local_blobs.account_name == "devstoreaccount1"
    assert local_blobs.credential.account_key == KEY
    assert local_blobs.url.startswith("http://127.0.0.1:2/devstoreaccount1")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BWF_BATCH_URL", "mybatch.westeurope.batch.azure.com"),  # no scheme
        ("BWF_BATCH_URL", "http://mybatch.westeurope.batch.azure.com"),  # keys in clear text
        ("BWF_STORAGE_URL", "https://"),  # no host
        ("BWF_STORAGE_URL", "mystore"),
    ],
)
def test_an_azure_endpoint_must_be_an_https_url_with_a_host(
    azure_env: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError, match=f"{variable} must be an https URL with a host") as e:
        azure_target()
    assert value in str(e.value) and KEY not in str(e.value)


def test_an_empty_account_name_is_a_usage_error(
    azure_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BWF_STORAGE_URL", "https://.blob.core.windows.net")
    with pytest.raises(UsageError, match="BWF_STORAGE_ACCOUNT"):
        azure_target()
    monkeypatch.setenv("BWF_STORAGE_ACCOUNT", "mystore")
    assert azure_target().storage_account == "mystore"


def test_a_bad_endpoint_is_reported_by_the_cli_without_a_traceback(
    azure_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.run_cli import bwf
    from tests.test_plan import write_spec

    monkeypatch.setenv("BWF_BATCH_URL", "http://mybatch.westeurope.batch.azure.com")
    result = bwf("plan", str(write_spec(tmp_path)), "--target", "azure")
    assert result.code == 2, result.out + result.err
    assert "BWF_BATCH_URL must be an https URL" in result.err and "Traceback" not in result.err


def _sas(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_sas_on_azure_are_https_only_and_their_window_fits_in_seven_days(azure_env: None) -> None:
    st = storage.Storage(azure_target())
    for lifetime in (3600, sas_times.START_TASK_LIFETIME):
        sas = _sas(st.sas_url("inputs", "read", lifetime))
        assert sas["spr"] == "https"
        start, expiry = _time(sas["st"]), _time(sas["se"])
        assert expiry - start <= dt.timedelta(seconds=sas_times.MAX_LIFETIME)
        now = dt.datetime.now(dt.timezone.utc)
        assert start < now - dt.timedelta(minutes=4)  # a clock up to 5 minutes ahead
        assert expiry > now + dt.timedelta(seconds=lifetime)
    # the start task's SAS lives as long as allowed: days, not the job's timeout
    assert _time(sas["se"]) - dt.datetime.now(dt.timezone.utc) > dt.timedelta(days=6, hours=23)


def test_local_sas_allow_http() -> None:
    local = Target(
        "local", "http://127.0.0.1:1", "bwflocal", "http://127.0.0.1:2/acct", "acct", KEY, KEY
    )
    assert "spr" not in _sas(storage.Storage(local).sas_url("inputs", "read", 60))


def test_a_user_delegation_key_is_asked_for_the_longest_sas_storage_allows() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    key_start, key_expiry = sas_times.key_window(now)
    # every SAS an apply signs, the start task's included, ends before the key does
    for lifetime in (60, 86400, sas_times.START_TASK_LIFETIME):
        start, expiry = sas_times.window(now, lifetime)
        assert key_start <= start and expiry <= key_expiry
    assert key_expiry - now <= dt.timedelta(days=7)  # "within seven days of the current time"
