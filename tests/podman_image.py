"""A container image for tests, made without a registry: a root filesystem holding a
static busybox (Debian's `busybox-static`) and a link per applet, imported into podman's
store (`podman import`), once per test session, under a name of its own."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tarfile
import uuid
from pathlib import Path

# Set by .ci/run: there a missing podman or busybox is a failure, not a skipped test.
REQUIRE_ENV = "BWF_REQUIRE_CONTAINERS"
BUSYBOX = Path("/bin/busybox")
_PT_INTERP = 3  # an ELF program header naming a dynamic loader


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    program = shutil.which("podman")
    assert program is not None
    return subprocess.run(
        [program, *args], capture_output=True, text=True, timeout=120, check=check
    )


def _dynamic(binary: Path) -> bool:
    """Whether an ELF64 little-endian binary needs a dynamic loader (PT_INTERP)."""
    data = binary.read_bytes()
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(
        struct.unpack_from("<I", data, phoff + i * phentsize)[0] == _PT_INTERP for i in range(phnum)
    )


def missing() -> str | None:
    """What this machine lacks to run container tests, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman runc)"
    if shutil.which("runc") is None:
        return "runc is not installed (apt-get install runc)"
    if not BUSYBOX.is_file() or _dynamic(BUSYBOX):
        return f"{BUSYBOX} is not a static busybox (apt-get install busybox-static)"
    return None


def build(work: Path) -> str:
    """Import the image; its name (`localhost/bwf-test-busybox:<random>`)."""
    root = work / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    tar = work / "rootfs.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(root, arcname=".")
    name = f"localhost/bwf-test-busybox:{uuid.uuid4().hex[:10]}"
    podman("import", "--change", "ENV PATH=/bin", str(tar), name)
    return name


def remove(name: str) -> None:
    podman("rmi", "--force", name, check=False)


def containers_named(name: str) -> list[str]:
    """The names of the containers (any state) called `name` in podman's store."""
    out = podman("ps", "--all", "--filter", f"name=^{name}$", "--format", "{{.Names}}").stdout
    return out.split()
