"""Image aliases a spec may use instead of a full marketplace reference."""

from __future__ import annotations

from runner.spec import ImageSpec

ALIASES: dict[str, ImageSpec] = {
    "ubuntu-22.04": ImageSpec(
        "canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts",
        "latest",
        "batch.node.ubuntu 22.04",
        "ubuntu-22.04",
    ),
    "ubuntu-24.04": ImageSpec(
        "canonical",
        "ubuntu-24_04-lts",
        "server",
        "latest",
        "batch.node.ubuntu 24.04",
        "ubuntu-24.04",
    ),
    "debian-12": ImageSpec(
        "debian", "debian-12", "12", "latest", "batch.node.debian 12", "debian-12"
    ),
}


def resolve_alias(name: str) -> ImageSpec:
    """The marketplace image an alias stands for; KeyError for an unknown alias."""
    return ALIASES[name]
