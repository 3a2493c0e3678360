"""Secrets resolved at the last moment: secret tokens and logical containers become
URLs with least-privilege SAS (read for resource files, write for outputs), signed by
`runner.storage` just before the requests that carry them and cached per container and
kind; container registry passwords are read from the environment variables the spec
names. Only apply holds resolvers; nothing they return is ever printed."""

from __future__ import annotations

import os
import urllib.parse

from runner import secrets
from runner.compute import ContainerRegistry
from runner.errors import BwfError
from runner.state import Desired, ResourceFile
from runner.storage import Storage


class Resolver:
    """Secret tokens and logical containers -> URLs with least-privilege SAS valid for
    `lifetime` seconds (default: the spec's `sas_expiry`; see `runner.sas_times` for
    the window each is signed for)."""

    def __init__(self, desired: Desired, storage: Storage, lifetime: int | None = None) -> None:
        self.desired = desired
        self.storage = storage
        self.lifetime = desired.sas_expiry if lifetime is None else lifetime
        self.cache: dict[tuple[str, str], str] = {}

    def _name(self, key: str) -> str:
        return self.desired.container(key).name

    def sas(self, key: str, kind: str) -> str:
        if (key, kind) not in self.cache:
            name = self._name(key)
            if kind == "url":
                self.cache[(key, kind)] = self.storage.container_url(name)
            else:
                self.cache[(key, kind)] = self.storage.sas_url(name, kind, self.lifetime)
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

    def password(self, variable: str) -> str:
        """A registry password from the environment; it is scrubbed from every message
        from then on."""
        value = os.environ.get(variable)
        if not value:
            raise BwfError(
                f"the container registry password is read from ${variable}, which is not set "
                "in the environment: set it and apply again"
            )
        secrets.register(value)
        return value


def registries(desired: Desired) -> list[ContainerRegistry]:
    """Every registry the pool and the tasks use: their passwords must be at hand before
    apply changes anything."""
    found = list(desired.pool.containers.registries) if desired.pool.containers else []
    for step in desired.job.steps:
        for t in step.tasks[:1]:  # a step's tasks share one template's container
            if t.container is not None and t.container.registry is not None:
                found.append(t.container.registry)
    return found
