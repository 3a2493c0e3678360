"""How the azure target builds its clients and credentials (no network is used)."""

from __future__ import annotations

import urllib.parse

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from runner import batch, secrets, storage
from runner.errors import UsageError
from runner.targets import Target, azure_target, resolve_target

KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3ODkw"


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
