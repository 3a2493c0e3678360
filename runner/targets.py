"""Where a workflow runs: endpoints and credentials for the local stack or Azure.

`--target local` reads the running local stack (starting it when needed, see
`runner.localstack`); `--target azure` reads `BWF_BATCH_URL`, `BWF_STORAGE_URL` and
either `BWF_BATCH_KEY`/`BWF_STORAGE_KEY` or, without keys, Microsoft Entra ID through
azure-identity's DefaultAzureCredential. Credentials never come from the spec.

A `Target` is plain data: the service modules (`runner.storage`, the package `runner.batch`)
build SDK clients from it. Its repr never shows a key.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Literal

from runner.errors import UsageError


@dataclass(frozen=True)
class Target:
    name: Literal["local", "azure"]
    batch_url: str  # e.g. http://127.0.0.1:PORT or https://acct.region.batch.azure.com
    batch_account: str
    storage_url: str  # blob endpoint, e.g. http://127.0.0.1:PORT/devstoreaccount1
    storage_account: str
    batch_key: str | None = field(default=None, repr=False)  # None: Entra ID
    storage_key: str | None = field(
        default=None, repr=False
    )  # None: Entra ID (user-delegation SAS)

    @property
    def uses_entra_id(self) -> bool:
        return self.batch_key is None or self.storage_key is None

    @property
    def sdk_settings(self) -> dict[str, bool]:
        """Settings of both SDKs' clients for this target. The local stack listens on
        loopback: no proxy from the environment applies to it (nor should one), and not
        reading the environment's proxy settings on every request saves about a
        millisecond of bwf's CPU per request."""
        return {"use_env_settings": False} if self.name == "local" else {}


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise UsageError(f"--target azure needs {name} in the environment (see docs/targets.md)")
    return value


def _endpoint(name: str) -> tuple[str, str]:
    """An Azure endpoint from the variable `name`: an https URL with a host (SAS URLs
    and keys travel over it); the URL without a trailing slash, and its host."""
    url = _require(name).rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise UsageError(
            f"{name} must be an https URL with a host, such as "
            f"{_EXAMPLES[name]}; got {url!r} (see docs/targets.md)"
        )
    return url, parts.hostname


_EXAMPLES = {
    "BWF_BATCH_URL": "https://ACCOUNT.REGION.batch.azure.com",
    "BWF_STORAGE_URL": "https://ACCOUNT.blob.core.windows.net",
}


def _account(variable: str, url_variable: str, host: str) -> str:
    """The account name: `variable` when set, else the first label of the host."""
    name = (os.environ.get(variable) or "").strip() or host.split(".")[0]
    if not name:
        raise UsageError(
            f"no account name: set {variable}, or give {url_variable} a host that starts "
            "with it (see docs/targets.md)"
        )
    return name


def azure_target() -> Target:
    """A real Batch and storage account from BWF_* variables; keys optional (Entra ID)."""
    batch_url, batch_host = _endpoint("BWF_BATCH_URL")
    storage_url, storage_host = _endpoint("BWF_STORAGE_URL")
    return Target(
        name="azure",
        batch_url=batch_url,
        batch_account=_account("BWF_BATCH_ACCOUNT", "BWF_BATCH_URL", batch_host),
        storage_url=storage_url,
        storage_account=_account("BWF_STORAGE_ACCOUNT", "BWF_STORAGE_URL", storage_host),
        batch_key=os.environ.get("BWF_BATCH_KEY") or None,
        storage_key=os.environ.get("BWF_STORAGE_KEY") or None,
    )


def local_target() -> Target:
    """The local stack, started when it is not running."""
    from runner import localstack

    info = localstack.up()
    storage, batch = info["storage"], info["batch"]
    assert isinstance(storage, dict) and isinstance(batch, dict)
    return Target(
        name="local",
        batch_url=str(batch["url"]),
        batch_account=str(batch["account"]),
        storage_url=str(storage["blob_url"]),
        storage_account=str(storage["account"]),
        batch_key=str(batch["key"]),
        storage_key=str(storage["key"]),
    )


def resolve_target(name: str) -> Target:
    if name == "local":
        return local_target()
    if name == "azure":
        return azure_target()
    raise UsageError(f"unknown target {name!r}: use local or azure")
