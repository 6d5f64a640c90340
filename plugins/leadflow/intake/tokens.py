"""Signed link tokens for the unsubscribe and preferences links in marketing email.

A token is `<payload>.<signature>`, both base64url without padding. The payload is compact JSON that
carries everything the intake page needs, because `leadflow serve` never reads the warehouse:

    {"p": "u" | "p",        purpose: unsubscribe link or preferences link
     "l": "<lead id>",
     "k": "<send key>",     the email the link came in (optional)
     "o": "ja" | "en",      the lead's locale, for the page
     "m": "t***@e***.jp",   the masked address shown on the page (never the address itself)
     "d": 20430}            issue day (days since 1970-01-01, UTC)

The signature is HMAC-SHA256 over a domain-separation prefix and the encoded payload, cut to 128
bits. It is checked with `hmac.compare_digest` against the current secret (`LEADFLOW_LINK_SECRET`)
and then the previous one (`LEADFLOW_LINK_SECRET_PREVIOUS`), so links in mail sent before a
rotation keep working. The payload is signed, not encrypted: it holds nothing beyond the masked
address. With `mailer.kind: file` and no secret set, a fixed development secret signs the links
of the file outbox (nothing real can be unsubscribed with it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

Purpose = Literal["unsubscribe", "preferences"]
_PURPOSE_CODE: dict[str, str] = {"unsubscribe": "u", "preferences": "p"}
_CODE_PURPOSE: dict[str, Purpose] = {"u": "unsubscribe", "p": "preferences"}
_DOMAIN = b"leadflow-link.v1."  # a token signed for anything else never verifies here
_SIG_BYTES = 16
_EPOCH = date(1970, 1, 1)
MAX_TOKEN_CHARS = 1024  # longer query values are refused before any decoding
DEV_LINK_SECRET = "leadflow-dev-links"  # noqa: S105 — not a secret: only for the file outbox
SECRET_ENV = "LEADFLOW_LINK_SECRET"  # noqa: S105 — the name of the variable, not a secret
PREVIOUS_SECRET_ENV = "LEADFLOW_LINK_SECRET_PREVIOUS"  # noqa: S105
LOCALES = ("ja", "en")


class InvalidToken(ValueError):
    """A link token that is malformed, tampered with, signed with an unknown secret, or of the wrong purpose."""


class ExpiredToken(InvalidToken):
    """A genuine link token older than the configured maximum age (its payload is still known)."""

    def __init__(self, link: LinkClaims):
        super().__init__("link expired")
        self.link = link


@dataclass(frozen=True)
class LinkClaims:
    """What a verified link token says."""

    purpose: Purpose
    lead_id: str
    locale: str
    masked_email: str
    issued: date
    send_key: str | None = None


def mask_email(address: str) -> str:
    """`taro.yamada@example.co.jp` → `t***@e***.co.jp`: enough for a person to recognise, not to use."""
    local, _, domain = (address or "").strip().partition("@")
    if not local or not domain:
        return "***"
    host, _, suffix = domain.partition(".")
    return f"{local[0]}***@{host[:1]}***{'.' + suffix if suffix else ''}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise InvalidToken("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("not base64url") from exc


def _signature(secret: str, encoded_payload: str) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN + encoded_payload.encode("ascii"), hashlib.sha256).digest()[:_SIG_BYTES]


def signing_secret(dev_fallback: bool) -> str:
    """The secret new links are signed with; `dev_fallback` (the file outbox) allows the fixed dev secret."""
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret
    if dev_fallback:
        return DEV_LINK_SECRET
    raise RuntimeError(f"{SECRET_ENV} must be set to send real email (signs unsubscribe links)")


def verification_secrets(dev_fallback: bool) -> tuple[str, ...]:
    """The secrets a token may be signed with: the current one, then the previous one (rotation)."""
    found = tuple(s for s in (os.environ.get(SECRET_ENV), os.environ.get(PREVIOUS_SECRET_ENV)) if s)
    if found:
        return found
    return (signing_secret(dev_fallback),)


def make_token(
    purpose: Purpose,
    lead_id: str,
    *,
    locale: str,
    email: str,
    secret: str,
    send_key: str | None = None,
    issued: date | None = None,
) -> str:
    """A signed link token for `lead_id` (see the module docstring for what it carries)."""
    day = (issued or datetime.now(UTC).date()) - _EPOCH
    doc: dict[str, object] = {
        "p": _PURPOSE_CODE[purpose],
        "l": str(lead_id),
        "o": locale if locale in LOCALES else "en",
        "m": mask_email(email),
        "d": day.days,
    }
    if send_key:
        doc["k"] = str(send_key)
    payload = _b64(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
    return f"{payload}.{_b64(_signature(secret, payload))}"


def verify_token(
    token: str | None,
    purpose: Purpose,
    secrets: tuple[str, ...],
    *,
    max_age_days: int,
    today: date | None = None,
) -> LinkClaims:
    """The claims of a genuine `purpose` token, or InvalidToken / ExpiredToken (the message says nothing useful)."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise InvalidToken("malformed")
    payload, _, sig = token.partition(".")
    given = _unb64(sig)
    # every secret is tried, so the time taken does not depend on which one matched
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(given, _signature(secret, payload))
    if not matched:
        raise InvalidToken("bad signature")
    try:
        doc = json.loads(_unb64(payload))
        claims = LinkClaims(
            purpose=_CODE_PURPOSE[doc["p"]],
            lead_id=str(doc["l"]),
            locale=doc["o"] if doc.get("o") in LOCALES else "en",
            masked_email=str(doc.get("m") or "***"),
            issued=_EPOCH + _days(doc["d"]),
            send_key=str(doc["k"]) if doc.get("k") else None,
        )
    except (ValueError, KeyError, TypeError) as exc:  # signed by us but not a link payload
        raise InvalidToken("bad payload") from exc
    if claims.purpose != purpose or not claims.lead_id:
        raise InvalidToken("wrong purpose")
    now = today or datetime.now(UTC).date()
    if (now - claims.issued).days > max_age_days:
        raise ExpiredToken(claims)
    if claims.issued > now + timedelta(days=1):
        raise InvalidToken("issued in the future")
    return claims


def _days(value: object) -> timedelta:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("issue day must be an integer")
    return timedelta(days=value)


def link_url(base_url: str, token: str) -> str:
    """`base_url` with `token=<token>` added to its query (a configured query string is kept)."""
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}token={token}"
