"""Shared fixtures. Services are real: Azurite from the pinned npm package and the
project's local Batch service, each started once per test session on free loopback
ports with their data in a temporary directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner import localstack
from tests import podman_image


@pytest.fixture(autouse=True)
def _isolated_bwf_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test ever reads or writes a user's BWF_HOME."""
    monkeypatch.setenv("BWF_HOME", str(tmp_path_factory.mktemp("bwf_home")))


@pytest.fixture()
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test (and the bwf processes it starts) in its tmp_path, so that downloads
    to tmp_path/out stay inside the current directory (bwf refuses to write outside it
    without --allow-path)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localstack.RunningService]:
    """A real Azurite blob service for the whole test session."""
    service = localstack.start_azurite(tmp_path_factory.mktemp("azurite"))
    yield service
    localstack.stop_process(service.pid)


@pytest.fixture(scope="session")
def azurite_connection_string(azurite: localstack.RunningService) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={localstack.STORAGE_ACCOUNT};AccountKey={localstack.STORAGE_KEY};"
        f"BlobEndpoint={azurite.url};"
    )


@pytest.fixture()
def tmp_spec_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def batch_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localstack.RunningService]:
    """The local Batch service for the whole session (state in a temporary directory)."""
    service = localstack.start_batch_service(tmp_path_factory.mktemp("localbatch"))
    yield service
    localstack.stop_process(service.pid)


@pytest.fixture()
def batch_client(batch_service: localstack.RunningService) -> Any:
    """The real azure-batch 15.x SDK client, pointed at the local Batch service."""
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    return BatchClient(
        endpoint=batch_service.url,
        credential=AzureNamedKeyCredential(localstack.BATCH_ACCOUNT, localstack.BATCH_KEY),
    )


@pytest.fixture()
def blob_service(azurite_connection_string: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azurite_connection_string)


@pytest.fixture(scope="session")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A BWF_HOME with the local stack (Azurite + local Batch) running, shared by the
    end-to-end tests of the engine; each test uses its own workflow and job names."""
    home = tmp_path_factory.mktemp("stack_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("BWF_HOME", str(home))
    try:
        localstack.up()
    finally:
        mp.undo()
    yield home
    mp.setenv("BWF_HOME", str(home))
    try:
        localstack.down()
    finally:
        mp.undo()


@pytest.fixture()
def home(stack_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The session's local stack, as the current BWF_HOME."""
    monkeypatch.setenv("BWF_HOME", str(stack_home))
    return stack_home


@pytest.fixture(scope="session")
def container_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A busybox image in podman's store, built without a registry once per session
    (skipped where podman or busybox-static is missing, unless BWF_REQUIRE_CONTAINERS)."""
    why = podman_image.missing()
    if why is not None:
        if os.environ.get(podman_image.REQUIRE_ENV):
            pytest.fail(why)
        pytest.skip(why)
    name = podman_image.build(tmp_path_factory.mktemp("image"))
    yield name
    podman_image.remove(name)
