"""Where a workflow runs: endpoints and credentials for the local stack or Azure.

`--target local` reads the running local stack (starting it when needed, see
`runner.localstack`); `--target azure` reads `BWF_BATCH_URL`, `BWF_STORAGE_URL` and
either `BWF_BATCH_KEY`/`BWF_STORAGE_KEY` or, without keys, Microsoft Entra ID through
azure-identity's DefaultAzureCredential. Credentials never come from the spec.

A `Target` is plain data: the service modules (`runner.storage`, `runner.batch`)
build SDK clients from it. Its repr never shows a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


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
