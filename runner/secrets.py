"""Keeping secrets out of everything bwf prints or writes outside BWF_HOME.

SAS signatures and account keys can reach error messages through the SDKs (a URL in
an exception, a request dump). `scrub` is applied to every message that leaves a
service module.
"""

from __future__ import annotations

import re

_SAS_SIG = re.compile(r"(?i)(sig=)[^&\s'\"]+")
_SAS_PARAMS = re.compile(r"(?i)([?&](?:skoid|sktid|skt|ske|sks|skv|saoid|suoid)=)[^&\s'\"]+")
_ACCOUNT_KEY = re.compile(r"(?i)(AccountKey=)[^;\s'\"]+")
_SHARED_KEY = re.compile(r"(SharedKey [^:\s]+:)[A-Za-z0-9+/=]+")

_known: set[str] = set()


def register(secret: str | None) -> None:
    """Remember a secret (an account key) so that `scrub` removes it wherever it appears."""
    if secret and len(secret) >= 8:
        _known.add(secret)


def scrub(text: str) -> str:
    text = _SAS_SIG.sub(r"\1<redacted>", text)
    text = _SAS_PARAMS.sub(r"\1<redacted>", text)
    text = _ACCOUNT_KEY.sub(r"\1<redacted>", text)
    text = _SHARED_KEY.sub(r"\1<redacted>", text)
    for secret in _known:
        text = text.replace(secret, "<redacted>")
    return text
