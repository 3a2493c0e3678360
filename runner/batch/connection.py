"""The SDK client for a target and the calls made through it: every SDK error leaves
through `errors.translate`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import AzureError, ResourceNotFoundError

from runner import secrets
from runner.batch.errors import translate
from runner.targets import Target

# The SDK types polling_interval as int, but sleeps any number: the local service
# answers in a fraction of a second, Azure in tens of seconds.
POLL: Any = 0.5

# The SDK logs a warning with a full traceback whenever it cannot parse an error body
# (a 404 on a streamed file download, for one). Errors reach users through
# `translate`; the SDK's own log lines would only print tracebacks.
logging.getLogger("azure.batch._utils.model_base").setLevel(logging.ERROR)

T = TypeVar("T")


def make_client(target: Target) -> BatchClient:
    """A BatchClient for the target: Shared Key, or DefaultAzureCredential (Entra ID)."""
    secrets.register(target.batch_key)
    credential: Any
    if target.batch_key:
        credential = AzureNamedKeyCredential(target.batch_account, target.batch_key)
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return BatchClient(target.batch_url, credential, retry_total=8, retry_backoff_factor=0.4)


class Connection:
    """A client and the way every module of this package calls it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = make_client(target)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except AzureError as e:
            raise translate(what, e, self.target.batch_url) from None

    def call_or_none(self, what: str, fn: Callable[[], T]) -> T | None:
        """Like `call`, but None when the resource does not exist."""
        try:
            return fn()
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise translate(what, e, self.target.batch_url) from None

    def wait_deleted(self, what: str, begin: Callable[[], Any]) -> bool:
        return self.call_or_none(f"deleting {what}", lambda: begin().result() or True) is not None
