"""Shared fixtures. Services are real: Azurite from the pinned npm package and the
project's local Batch service, each started once per test session on free loopback
ports with their data in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import localstack


@pytest.fixture(autouse=True)
def _isolated_bwf_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test ever reads or writes a user's BWF_HOME."""
    monkeypatch.setenv("BWF_HOME", str(tmp_path_factory.mktemp("bwf_home")))


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
