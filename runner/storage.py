"""Azure Blob Storage: the only module that talks to Storage (Azurite or Azure).

Containers, uploads and downloads compared by Content-MD5, least-privilege container
SAS URLs (account key, or a user-delegation key with Microsoft Entra ID), and reads of
the logs container. Errors leave as `BwfError` with secrets scrubbed.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fnmatch
import hashlib
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.blob import (
    BlobServiceClient,
    ContainerSasPermissions,
    ContentSettings,
    generate_container_sas,
)

from runner import sas_times, secrets
from runner.digests import file_md5
from runner.errors import BwfError, ServiceUnreachable
from runner.placement import Placement
from runner.state import DownloadedFile, ObservedBlob, ObservedContainer, Upload
from runner.targets import Target

WORKERS = 16
# Azurite (started with --skipApiVersionCheck) answers faster to this version than to the SDK default.
API_VERSION = "2026-06-06"
PERMISSIONS = {"read": "rl", "write": "cw"}  # least privilege: list+read in, create+write out
PAGE_SIZE: int | None = None  # blobs a listing asks for per page: None is the service's 5,000


def _translate(what: str, e: AzureError) -> BwfError:
    """The one place an SDK error becomes a user-facing error (secrets scrubbed)."""
    if isinstance(e, ServiceRequestError):
        return ServiceUnreachable(
            secrets.scrub(f"{what}: the storage service does not answer ({e})")
        )
    if isinstance(e, HttpResponseError):
        code = getattr(e, "error_code", None) or e.status_code
        return BwfError(secrets.scrub(f"{what}: {code}: {e.reason or e.message}"))
    return BwfError(secrets.scrub(f"{what}: {e}"))


@contextmanager
def _errors(what: str) -> Iterator[None]:
    try:
        yield
    except AzureError as e:
        raise _translate(what, e) from None


def make_client(target: Target) -> BlobServiceClient:
    """A BlobServiceClient for the target: account key, or DefaultAzureCredential."""
    secrets.register(target.storage_key)
    credential: Any
    if target.storage_key:
        credential = {"account_name": target.storage_account, "account_key": target.storage_key}
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    kwargs: dict[str, Any] = {"retry_total": 8, "retry_backoff_factor": 0.4}
    if target.name == "local":
        kwargs["api_version"] = API_VERSION
        # the SDK's first retry waits 15 s (Azure's throttling); a local retry is after a
        # dropped connection or a restarting Azurite, and the doubling still spans minutes
        kwargs.update(initial_backoff=0.2, increment_base=2, random_jitter_range=0.1)
        kwargs.update(target.sdk_settings)
    return BlobServiceClient(target.storage_url, credential=credential, **kwargs)


def _md5(props: Any) -> str | None:
    digest = props.content_settings.content_md5 if props.content_settings else None
    return base64.b64encode(bytes(digest)).decode() if digest else None


def listed_blobs(page: ET.Element) -> Iterator[ObservedBlob]:
    """The blobs of one page of a List Blobs response (its XML, as Storage sends it):
    name (percent-decoded when the service marks it `Encoded`), size and Content-MD5."""
    for blob in page.iterfind("Blobs/Blob"):
        node = blob.find("Name")
        name = (node.text or "") if node is not None else ""
        if node is not None and node.get("Encoded") == "true":
            name = unquote(name)
        size = blob.findtext("Properties/Content-Length") or "0"
        md5 = blob.findtext("Properties/Content-MD5") or None
        yield ObservedBlob(name, int(size), md5)


class Stopped(Exception):
    """A download abandoned on request (see `Storage.fetch_new`)."""


class Storage:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = make_client(target)
        self._delegation_key: Any = None
        self._delegation_key_expiry = dt.datetime.min.replace(tzinfo=dt.timezone.utc)

    # --- reads -----------------------------------------------------------------------

    def observe(
        self, names: Iterable[str], list_blobs: Iterable[str] = ()
    ) -> dict[str, ObservedContainer]:
        """Every named container that exists; for those in `list_blobs`, also their blobs'
        sizes and MD5s (the others may hold many outputs or logs that no plan needs)."""
        wanted = set(list_blobs)
        out: dict[str, ObservedContainer] = {}
        for name in names:
            cc = self.client.get_container_client(name)
            try:
                if name in wanted:
                    blobs = {b.name: b for b in self.blobs(name)}
                else:
                    cc.get_container_properties()
                    blobs = {}
            except ResourceNotFoundError:
                continue
            except AzureError as e:
                raise _translate(f"reading container {name}", e) from None
            out[name] = ObservedContainer(name, blobs)
        return out

    def blobs(self, container: str) -> list[ObservedBlob]:
        """Every blob of a container, with its size and MD5. Raises the SDK's errors.

        The SDK's own requests (those of `list_blob_names`, which asks for the same pages
        as `list_blobs`), but each page read from its XML, which azure-core has parsed
        already: the SDK's model deserializer costs ~0.17 ms of CPU a blob (17 s for a
        container of 100,000), this a tenth of it. Should a later SDK keep no page XML,
        the listing is `list_blobs`'s."""
        cc = self.client.get_container_client(container)
        pages = cc.list_blob_names(results_per_page=PAGE_SIZE).by_page()
        out: list[ObservedBlob] = []
        for _ in pages:
            page = getattr(pages, "_response", None)
            if not isinstance(page, ET.Element):
                return [
                    ObservedBlob(b.name, int(b.size or 0), _md5(b))
                    for b in cc.list_blobs(results_per_page=PAGE_SIZE)
                ]
            out.extend(listed_blobs(page))
        return out

    def read_blob(self, container: str, blob: str) -> bytes | None:
        try:
            return self.client.get_blob_client(container, blob).download_blob().readall()
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise _translate(f"reading {container}/{blob}", e) from None

    # --- writes ------------------------------------------------------------------------

    def create_container(self, name: str) -> bool:
        """Create a container; False when it was already there."""
        with _errors(f"creating container {name}"):
            try:
                self.client.create_container(name)
            except ResourceExistsError:
                return False
        return True

    def delete_container(self, name: str) -> bool:
        with _errors(f"deleting container {name}"):
            try:
                self.client.delete_container(name)
            except ResourceNotFoundError:
                return False
        return True

    def upload(
        self, container: str, uploads: list[Upload], progress: Callable[[int], None]
    ) -> None:
        """Upload files in parallel, each with its Content-MD5 (so a re-plan can compare)."""

        def one(u: Upload) -> None:
            md5 = base64.b64decode(u.md5)
            with (
                open(u.local_path, "rb") as f,
                _errors(f"uploading {u.local_path} to {container}/{u.blob}"),
            ):
                self.client.get_blob_client(container, u.blob).upload_blob(
                    f,
                    overwrite=True,
                    length=u.size,
                    content_settings=ContentSettings(content_md5=bytearray(md5)),
                )
            progress(u.size)

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for _ in pool.map(one, uploads):
                pass

    def download(self, container: str, pattern: str, to: Path) -> list[DownloadedFile]:
        """Download the blobs matching `pattern` into `to`, skipping identical local files.
        Returns every matching blob as it now is on disk (written or already identical).
        The local files are checked first, in this thread (see `_placed`); only the others
        are fetched in parallel."""
        out: list[DownloadedFile | None] = []
        missing: dict[str, Path] = {}  # blob -> where it goes (names are unique)
        for b, path, in_place in self._placed(container, pattern, to):
            if in_place:
                out.append(DownloadedFile(b.name, b.size, str(b.md5)))
            else:
                missing[b.name] = Path(path)
                out.append(None)
        fetched = iter(self.fetch(container, missing, missing.__getitem__))
        return [f if f is not None else next(fetched) for f in out]

    def fetch_new(
        self,
        container: str,
        pattern: str,
        to: Path,
        seen: set[tuple[str, str]],
        stop: threading.Event,
        workers: int,
    ) -> int:
        """Fetch the blobs matching `pattern` that have a Content-MD5 and are not in `to`
        with it, but none in `seen` ((name, MD5) fetched or found in place before), and
        none once `stop` is set (one being fetched is abandoned after its current chunk);
        add what was fetched or found to `seen`. The number of blobs fetched. For the
        downloads while tasks run (runner.early_downloads): a blob without an MD5 could not
        be recognised later, so it is left to `download`."""
        missing: dict[str, tuple[Path, str]] = {}  # blob -> (where it goes, its MD5)
        for b, path, in_place in self._placed(
            container, pattern, to, lambda b: bool(b.md5) and (b.name, b.md5) not in seen
        ):
            if in_place:
                seen.add((b.name, str(b.md5)))
            else:
                missing[b.name] = (Path(path), str(b.md5))

        def one(name: str) -> int:
            path, md5 = missing[name]
            try:
                if stop.is_set() or self._fetch(container, name, path, stop).md5 != md5:
                    return 0
            except Stopped:
                return 0
            seen.add((name, md5))
            return 1

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return sum(pool.map(one, missing))

    def _placed(
        self,
        container: str,
        pattern: str,
        to: Path,
        wanted: Callable[[ObservedBlob], bool] = lambda b: True,
    ) -> Iterator[tuple[ObservedBlob, str, bool]]:
        """The `wanted` blobs matching `pattern`, each with where it goes in `to` and
        whether a file with its MD5 is there already (a `stat` and, for a file that may
        be in place, its MD5)."""
        with _errors(f"listing container {container}"):
            blobs = [
                b
                for b in self.blobs(container)
                if fnmatch.fnmatchcase(b.name, pattern) and wanted(b)
            ]
        place = Placement(to, container)
        for b in blobs:
            path, regular = place.path(b.name)
            yield b, path, bool(b.md5) and regular and file_md5(path) == b.md5

    def fetch(
        self, container: str, names: Iterable[str], dest: Callable[[str], Path]
    ) -> list[DownloadedFile]:
        """Download the named blobs, each to the path `dest(name)`, in parallel."""
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            return list(pool.map(lambda n: self._fetch(container, n, dest(n)), names))

    def _fetch(
        self, container: str, name: str, path: Path, stop: threading.Event | None = None
    ) -> DownloadedFile:
        """One blob to a file (atomically), with the MD5 of what was written. With `stop`,
        abandoned (`Stopped` raised) once it is set, between chunks. Whatever stops it
        leaves no partial file; a local file that cannot be written is a BwfError."""
        tmp = path.with_name(path.name + ".bwf-partial")
        h = hashlib.md5(usedforsecurity=False)
        size = 0
        blob = self.client.get_blob_client(container, name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _errors(f"downloading {container}/{name}"), open(tmp, "wb") as f:
                for chunk in blob.download_blob().chunks():
                    if stop is not None and stop.is_set():
                        raise Stopped
                    h.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if isinstance(e, OSError):
                why = e.strerror or str(e)
                raise BwfError(f"writing {path} (blob {container}/{name}): {why}") from None
            raise
        return DownloadedFile(name, size, base64.b64encode(h.digest()).decode())

    # --- SAS ---------------------------------------------------------------------------

    def container_url(self, container: str) -> str:
        return f"{self.target.storage_url}/{container}"

    def sas_url(self, container: str, kind: str, lifetime: int) -> str:
        """A container URL with a SAS: `read` (list+read) or `write` (create+write), valid
        for `lifetime` seconds (see runner.sas_times); https only on Azure."""
        now = dt.datetime.now(dt.timezone.utc)
        start, expiry = sas_times.window(now, lifetime)
        permission = ContainerSasPermissions.from_string(PERMISSIONS[kind])
        signer: dict[str, Any] = {"account_key": self.target.storage_key}
        if not self.target.storage_key:
            signer = {"user_delegation_key": self._delegation_key_until(expiry, now)}
        sas = generate_container_sas(
            self.target.storage_account,
            container,
            permission=permission,
            start=start,
            expiry=expiry,
            protocol="https" if self.target.name == "azure" else None,
            **signer,
        )
        return f"{self.container_url(container)}?{sas}"

    def _delegation_key_until(self, expiry: dt.datetime, now: dt.datetime) -> Any:
        """A user delegation key valid until `expiry` at least: a SAS cannot outlive the
        key that signs it. One key, asked for as long as Storage allows, serves a whole
        apply; a new one is asked for only when a SAS would outlive it."""
        if self._delegation_key is None or self._delegation_key_expiry < expiry:
            start, until = sas_times.key_window(now)
            with _errors("getting a user delegation key"):
                self._delegation_key = self.client.get_user_delegation_key(start, until)
            self._delegation_key_expiry = until
        return self._delegation_key
