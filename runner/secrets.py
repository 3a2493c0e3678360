"""Keeping secrets out of everything bwf prints or writes outside BWF_HOME.

Two mechanisms, both defined here and nowhere else:

- *Secret tokens*: where a template asks for a SAS URL (`containers.output.write_sas`),
  the rendered text holds `@@bwf-secret:KEY:KIND@@` instead. `redact` turns tokens into
  `<redacted>` for display, `secret_tokens` lists them (the length checks measure them
  at a real SAS URL's size), and the apply stage alone `resolve`s them just before
  sending. So a fingerprint does not change when a SAS is re-issued, and a printed plan
  holds no secret.
- `scrub`: SAS signatures and account keys can reach error messages through the SDKs
  (a URL in an exception, a request dump); it is applied to every message that leaves
  a service module.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Literal, get_args

SasKind = Literal["read", "write", "url"]
REDACTED = "<redacted>"
SECRET_TOKEN_PREFIX = "@@bwf-secret:"
_SECRET_TOKEN_SUFFIX = "@@"
# KEY is a container key as the schema allows it (`containerKey`: lowercase letters,
# digits and `_`, starting with a letter).
_SECRET_TOKEN = re.compile(
    re.escape(SECRET_TOKEN_PREFIX)
    + r"([a-z][a-z0-9_]*):("
    + "|".join(get_args(SasKind))
    + ")"
    + re.escape(_SECRET_TOKEN_SUFFIX)
)


def secret_token(container_key: str, kind: SasKind) -> str:
    """The placeholder rendered in place of a container's SAS URL."""
    return f"{SECRET_TOKEN_PREFIX}{container_key}:{kind}{_SECRET_TOKEN_SUFFIX}"


def redact(text: str) -> str:
    """Text fit to print: every secret token becomes `<redacted>`."""
    if SECRET_TOKEN_PREFIX not in text:
        return text
    return _SECRET_TOKEN.sub(REDACTED, text)


def secret_tokens(text: str) -> list[tuple[str, SasKind]]:
    """The (container key, kind) pairs whose secrets `text` needs, one per occurrence."""
    return [(m.group(1), m.group(2)) for m in _SECRET_TOKEN.finditer(text)]  # type: ignore[misc]


def resolve(text: str, sas: Callable[[str, SasKind], str]) -> str:
    """Substitute real values for secret tokens (apply stage only)."""
    return _SECRET_TOKEN.sub(lambda m: sas(m.group(1), m.group(2)), text)  # type: ignore[arg-type]


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
