"""bwf: a declarative, YAML-driven workflow runner for Azure Batch and Azure Storage."""

from __future__ import annotations

__version__ = "0.1.0"
