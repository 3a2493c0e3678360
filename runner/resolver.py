"""Secrets resolved at the last moment: secret tokens and logical containers become
URLs with least-privilege SAS (read for resource files, write for outputs), cached per
container and kind. Only apply holds one; nothing it returns is ever printed."""

from __future__ import annotations

import urllib.parse

from runner import secrets
from runner.state import Desired, ResourceFile
from runner.storage import Storage


class Resolver:
    """Secret tokens and logical containers -> URLs with least-privilege SAS (cached)."""

    def __init__(self, desired: Desired, storage: Storage) -> None:
        self.desired = desired
        self.storage = storage
        self.cache: dict[tuple[str, str], str] = {}

    def _name(self, key: str) -> str:
        return self.desired.container(key).name

    def sas(self, key: str, kind: str) -> str:
        if (key, kind) not in self.cache:
            name = self._name(key)
            if kind == "url":
                self.cache[(key, kind)] = self.storage.container_url(name)
            else:
                self.cache[(key, kind)] = self.storage.sas_url(name, kind, self.desired.sas_expiry)
        return self.cache[(key, kind)]

    def text(self, value: str) -> str:
        return secrets.resolve(value, self.sas)

    def resource(self, rf: ResourceFile) -> dict[str, str | None]:
        base = {"file_path": rf.file_path, "file_mode": rf.file_mode}
        if rf.url is not None:
            return {**base, "http_url": self.text(rf.url)}
        assert rf.container is not None
        if rf.blob is not None:
            url = self.sas(rf.container, "read")
            container_url, _, query = url.partition("?")
            blob_url = f"{container_url}/{urllib.parse.quote(rf.blob)}?{query}"
            return {**base, "http_url": blob_url, "file_path": rf.file_path or rf.blob}
        return {
            **base,
            "storage_container_url": self.sas(rf.container, "read"),
            "blob_prefix": rf.prefix or None,
        }

    def output_url(self, container: str) -> str:
        return self.sas(container, "write")
