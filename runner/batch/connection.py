"""The SDK client for a target and the calls made through it: every SDK error leaves
through `errors.translate`.

Throttling: azure-core's retry policy retries any answer that carries `Retry-After`
(POST included) after sleeping that long, and 408/429/500/502/503/504 without it
(POST and PATCH only on 500/503/504), with at most `retry_status` such retries per
request (3 unless set, fewer than a busy Azure account needs). Past those, `call`
honours `Retry-After` on 429 and 503 itself, for up to `THROTTLED_FOR` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from runner import secrets
from runner.batch import waiting
from runner.batch.errors import error_code, retry_after, throttled, translate
from runner.batch.waiting import Pace, Say, Waited, pace_for
from runner.targets import Target

# Azure deletes a pool or job in minutes (a pool's nodes first, a job's tasks and release
# tasks): a bound well past that.
DELETE_BOUND = 30 * 60.0

# Retries of one request in the SDK's pipeline (each after Retry-After or a backoff).
SDK_RETRIES = 8
# How long `call` keeps honouring Retry-After once the SDK's retries are used up.
THROTTLED_FOR = 120.0

# The SDK logs a warning with a full traceback whenever it cannot parse an error body
# (a 404 on a streamed file download, for one). Errors reach users through
# `translate`; the SDK's own log lines would only print tracebacks.
logging.getLogger("azure.batch._utils.model_base").setLevel(logging.ERROR)

T = TypeVar("T")

# The Batch REST API version of every request: the SDK's own default, named so that the
# listings bwf reads page by page itself (runner.batch.tasks) ask for the same one.
API_VERSION = "2025-06-01"


def make_client(target: Target) -> BatchClient:
    """A BatchClient for the target: Shared Key, or DefaultAzureCredential (Entra ID)."""
    secrets.register(target.batch_key)
    credential: Any
    if target.batch_key:
        credential = AzureNamedKeyCredential(target.batch_account, target.batch_key)
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return BatchClient(
        target.batch_url,
        credential,
        api_version=API_VERSION,
        retry_total=SDK_RETRIES,
        retry_status=SDK_RETRIES,
        retry_backoff_factor=0.4,
        **target.sdk_settings,
    )


def _quiet(_text: str) -> None:
    pass


def _unrecorded(_what: str, _seconds: float) -> None:
    pass


class Connection:
    """A client, the pace of waits on this target, where progress goes, and the way
    every module of this package calls the SDK."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = make_client(target)
        self.pace: Pace = pace_for(target.name)
        # the SDK's pollers take their interval as int, but sleep any number
        self.poll_interval: Any = self.pace.first
        self.slow_poll_interval: Any = self.pace.most  # for pollers nobody waits on
        self.say: Say = _quiet
        self.waited: Waited = _unrecorded  # each wait that took time (the run record)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return self._patiently(fn)
        except AzureError as e:
            raise translate(what, e, self.target.batch_url) from None

    def call_or_none(self, what: str, fn: Callable[[], T]) -> T | None:
        """Like `call`, but None when the resource does not exist."""
        try:
            return self._patiently(fn)
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise translate(what, e, self.target.batch_url) from None

    def call_sdk(self, what: str, fn: Callable[[], T]) -> T:
        """Like `call`, but an HTTP error is raised as the SDK's, for the caller to read
        its code (and translate it)."""
        try:
            return self._patiently(fn)
        except HttpResponseError:
            raise
        except AzureError as e:
            raise translate(what, e, self.target.batch_url) from None

    def delete(
        self,
        what: str,
        begin: Callable[[], Any],
        being_deleted: str,
        gone: Callable[[], bool],
        giving_up: str,
    ) -> bool:
        """Delete something and wait until `gone()`; False when it was gone already.
        `begin` is the SDK's begin_delete_*; when Batch answers `being_deleted`, someone
        else's deletion is under way and is waited for all the same."""
        try:
            poller = self.call_sdk(f"deleting {what}", begin)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as e:
            if error_code(e) != being_deleted:
                raise translate(f"deleting {what}", e, self.target.batch_url) from None
            poller = None
        self.follow(poller, gone, f"{what} is being deleted", DELETE_BOUND, giving_up)
        return True

    def follow(
        self,
        poller: Any,
        done: Callable[[], bool],
        pending: str,
        bound: float,
        giving_up: str = "",
    ) -> None:
        """Wait for an operation the SDK's poller follows (or None: no poller) until
        `done()` says it is over. The poller swallows errors and then only marks itself
        failed, so its status is checked and never assumed: after it stops, or if it
        failed, our own reads (`done`) decide."""
        started = time.monotonic()
        took = 0.0
        if poller is not None:
            # asking the poller costs no request: often, to follow it closely
            watch = replace(self.pace, first=min(self.pace.first, 0.05), most=1.0)
            took = waiting.until(poller.done, pending, bound, watch, self.say, giving_up)
        if poller is None or poller.status() != "Succeeded" or not done():
            left = bound - (time.monotonic() - started)
            took += waiting.until(done, pending, left, self.pace, self.say, giving_up)
        if took:
            self.waited(pending, took)

    def _patiently(self, fn: Callable[[], T]) -> T:
        """`fn()`, again after Retry-After while Batch throttles it (429 or 503)."""
        give_up = time.monotonic() + THROTTLED_FOR
        wait = 1.0
        while True:
            try:
                return fn()
            except HttpResponseError as e:
                if not throttled(e) or time.monotonic() >= give_up:
                    raise
                time.sleep(retry_after(e) or wait)
                wait = min(wait * 2, 30.0)
