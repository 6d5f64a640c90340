"""The keyed hash that stands for an erased person: HMAC-SHA256 of a normalised address or CRM id.

Only this hash survives an erasure (in `privacy.suppressions` and `ops.erasures`). It is keyed with
`LEADFLOW_PRIVACY_SECRET`, so a list of candidate addresses cannot be hashed and compared without
the secret (a bare SHA-256 of an address is reversed by such a dictionary in seconds). The secret
must stay the same for the life of the warehouse: a new one makes every stored hash unmatchable.
The SQL models compute the same HMAC (`m.hmac_hex`) from the key's two padded halves, passed as
bind parameters (`privacy_binds`), so the secret never appears in SQL text or a log.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from leadflow.config import ConfigError, Settings

SECRET_ENV = "LEADFLOW_PRIVACY_SECRET"  # noqa: S105 — the name of the variable, not a secret
DEV_SECRET = "leadflow-dev-privacy"  # noqa: S105 — not a secret: only with the file outbox (demo, tests)
_BLOCK = 64  # SHA-256's block size: HMAC pads the key to it (RFC 2104)


class PrivacySecretMissing(ConfigError):
    """An erasure was asked for with real sending configured and LEADFLOW_PRIVACY_SECRET not set."""


def privacy_secret(settings: Settings | None = None) -> bytes:
    """The HMAC key: `LEADFLOW_PRIVACY_SECRET`, else a fixed development key. Given `settings` whose
    mailer really sends (`sendgrid`), a missing secret is an error: an erasure hashed with the
    development key would be as weak as a bare hash. The models' binds (`privacy_binds`) fall back
    quietly, so a warehouse with no erasure yet needs no secret to run."""
    value = os.environ.get(SECRET_ENV)
    if value:
        return value.encode()
    if settings is not None and settings.mailer.kind != "file":
        raise PrivacySecretMissing(
            f"{SECRET_ENV} is not set: an erasure with mailer.kind {settings.mailer.kind!r} needs it "
            "(a long random string, the same for the life of the warehouse)"
        )
    return DEV_SECRET.encode()


def normalise_email(address: str) -> str:
    """An address as staging keeps it (`stg_leads.sql`: trimmed, lower case)."""
    return address.strip().lower()


def normalise_crm_id(crm_id: str) -> str:
    """A CRM id as staging keeps it (trimmed)."""
    return crm_id.strip()


def keyed_hash(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of `value` (UTF-8) under `secret`, as 64 hex digits."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def _padded(secret: bytes) -> bytes:
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    return key.ljust(_BLOCK, b"\0")


def privacy_binds() -> dict[str, bytes]:
    """The binds `m.hmac_hex` (and so `m.erased`, `m.consented`) reads: the key XOR-ed with HMAC's inner
    and outer pads (RFC 2104)."""
    key = _padded(privacy_secret())
    return {
        "privacy_inner": bytes(b ^ 0x36 for b in key),
        "privacy_outer": bytes(b ^ 0x5C for b in key),
    }
