"""Secrets never reach bwf's output: every form a secret takes is scrubbed (SAS
signatures in URLs, plain, URL-encoded or inside JSON; account keys; Shared Key
headers) and secret placeholders print as <redacted>."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from runner import limits, secrets, shell
from runner.secrets import redact, secret_token

KEY = "k3y+Secret/Value==" + "A" * 70  # base64-like: '+', '/' and '=' need encoding in URLs
SIG = "Ab%2Bc%2Fd%3D"  # a signature as it appears in a URL
SAS = f"sv=2026-06-06&st=2026-01-01T00%3A00%3A00Z&se=2026-01-08T00%3A00%3A00Z&sr=c&sp=rl&sig={SIG}"
URL = f"https://acct.blob.core.windows.net/input?{SAS}"


@pytest.fixture(autouse=True)
def _no_registered_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registered secrets are process-wide: each test starts with none."""
    monkeypatch.setattr(secrets, "_known", set())


def test_the_signature_of_a_sas_url() -> None:
    clean = secrets.scrub(f"GET {URL} failed: 403")
    assert SIG not in clean
    assert clean == f"GET {URL.replace(SIG, '<redacted>')} failed: 403"


@pytest.mark.parametrize(
    "text",
    [
        f"?sig={SIG}",
        f"&SIG={SIG}&sp=r",
        f"'{URL}'",
        f'"{URL}"',
        f"{URL}\nnext line",
        f"url={URL} code=403",
    ],
)
def test_the_signature_wherever_the_url_stands(text: str) -> None:
    clean = secrets.scrub(text)
    assert SIG not in clean and "<redacted>" in clean


def test_a_url_encoded_sas_url() -> None:
    """A SAS URL passed as a query parameter of another URL is percent-encoded."""
    encoded = urllib.parse.quote(URL, safe="")
    clean = secrets.scrub(f"copy from {encoded} refused")
    assert urllib.parse.quote(SIG, safe="") not in clean and "sig%3D<redacted>" in clean
    assert clean.endswith("refused") and "%26sp%3Drl" in clean


def test_a_sas_url_inside_json() -> None:
    for body in (
        json.dumps({"httpUrl": URL, "filePath": "a.txt"}),
        json.dumps({"httpUrl": URL}).replace("&", "\\u0026"),  # how some encoders write '&'
        json.dumps({"httpUrl": URL}).replace("/", "\\/"),
    ):
        clean = secrets.scrub(body)
        assert SIG not in clean and "<redacted>" in clean, body
        assert "filePath" not in body or clean.endswith('"filePath": "a.txt"}')


@pytest.mark.parametrize("param", ["skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid"])
def test_user_delegation_parameters(param: str) -> None:
    clean = secrets.scrub(f"{URL}&{param}=v4lue-1&sp=r")
    assert "v4lue-1" not in clean and f"&{param}=<redacted>&sp=r" in clean
    clean = secrets.scrub(f"https://a/c?{param}=v4lue-1")
    assert clean == f"https://a/c?{param}=<redacted>"


def test_other_query_parameters_stay() -> None:
    text = "https://a/c?sv=2026&sp=rl&sr=c&st=x&se=y&restype=container&designation=x"
    assert secrets.scrub(text) == text


def test_account_keys_in_connection_strings() -> None:
    text = f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey={KEY};BlobEndpoint=http://x;"
    assert secrets.scrub(text) == (
        "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=<redacted>;BlobEndpoint=http://x;"
    )
    assert secrets.scrub(f"accountkey={KEY}") == "accountkey=<redacted>"


def test_shared_key_authorization_headers() -> None:
    text = "Authorization: SharedKey devstoreaccount1:Zm9v+YmFy/YmF6=="
    assert secrets.scrub(text) == "Authorization: SharedKey devstoreaccount1:<redacted>"


def test_a_registered_key_in_every_form() -> None:
    secrets.register(KEY)
    for text in (
        f"key {KEY} refused",
        f"key {urllib.parse.quote(KEY, safe='')} refused",  # URL-encoded
        f"key {urllib.parse.quote_plus(KEY)} refused",  # form-encoded
        f"key {json.dumps(KEY)} refused".replace("/", "\\/"),  # JSON that escapes '/'
    ):
        clean = secrets.scrub(text)
        assert "k3y" not in clean and "<redacted>" in clean, text
        assert clean.startswith("key ") and clean.endswith(" refused")


def test_only_secrets_of_8_characters_or_more_are_registered() -> None:
    """A short 'secret' would scrub ordinary words out of every message."""
    secrets.register("Sh0rt!x")
    secrets.register("L0ng!xyz")
    secrets.register(None)
    secrets.register("")
    assert secrets.scrub("Sh0rt!x L0ng!xyz") == "Sh0rt!x <redacted>"


def test_text_without_secrets_is_unchanged() -> None:
    text = "task 't-a' failed: exit code 1; see bwf logs spec.yaml t-a"
    assert secrets.scrub(text) == text


@pytest.mark.parametrize("key", ["input", "out2", "my_output"])
@pytest.mark.parametrize("kind", ["read", "write", "url"])
def test_placeholders_print_as_redacted(key: str, kind: str) -> None:
    token = secret_token(key, kind)  # type: ignore[arg-type]
    command = shell.wrap([f"azcopy {shell.quote(token)} ."])
    assert redact(f"x {token} y") == "x <redacted> y"
    assert shell.unwrap(command) == "azcopy '<redacted>' ."
    # a placeholder is measured at the length of the SAS URL it stands for
    assert limits.measured_length(token) == limits.SAS_URL_CHARS
