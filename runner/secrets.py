"""Keeping secrets out of everything bwf prints or writes outside BWF_HOME.

SAS signatures and account keys can reach error messages through the SDKs (a URL in
an exception, a request dump). `scrub` is applied to every message that leaves a
service module.
"""

from __future__ import annotations

import re
import urllib.parse

# A SAS parameter's value runs to the next parameter; a URL that is itself a query
# parameter (percent-encoded once) writes '=' as %3D and '&' as %26.
_VALUE = r"(?:(?!%26)[^&\s'\"])+"
_SAS_SIG = re.compile(rf"(?i)(sig(?:=|%3D)){_VALUE}")
_SAS_PARAMS = re.compile(
    rf"(?i)((?:[?&]|%3F|%26)(?:skoid|sktid|skt|ske|sks|skv|saoid|suoid)(?:=|%3D)){_VALUE}"
)
_ACCOUNT_KEY = re.compile(r"(?i)(AccountKey=)[^;\s'\"]+")
_SHARED_KEY = re.compile(r"(SharedKey [^:\s]+:)[A-Za-z0-9+/=]+")

_known: set[str] = set()


def register(secret: str | None) -> None:
    """Remember a secret (an account key) so that `scrub` removes it wherever it appears."""
    if secret and len(secret) >= 8:
        # as it is, percent-encoded in a URL or a form, and in JSON that escapes '/'
        _known.update(
            {
                secret,
                urllib.parse.quote(secret, safe=""),
                urllib.parse.quote_plus(secret),
                secret.replace("/", "\\/"),
            }
        )


def scrub(text: str) -> str:
    """`text` with SAS signatures, user-delegation parameters, account keys, Shared Key
    signatures and registered secrets replaced by <redacted>."""
    text = _SAS_SIG.sub(r"\1<redacted>", text)
    text = _SAS_PARAMS.sub(r"\1<redacted>", text)
    text = _ACCOUNT_KEY.sub(r"\1<redacted>", text)
    text = _SHARED_KEY.sub(r"\1<redacted>", text)
    for secret in _known:
        text = text.replace(secret, "<redacted>")
    return text
