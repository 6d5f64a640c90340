"""HubSpot through the official `hubspot-api-client`: contacts pulled by last change, fields written in batches.

The private-app token is the password of an Airflow connection (`hubspot_default`), looked up
on first use and never logged; the connection's host, when set, replaces https://api.hubapi.com.
Retries are one layer, the client's own urllib3 `Retry`: bounded, on 429 and 5xx, honouring
Retry-After. A record HubSpot refuses is reported as failed and written again next run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from leadflow.crm.config import (
    DEFAULT_HUBSPOT_SINK_PROPERTIES,
    DEFAULT_HUBSPOT_SOURCE_PROPERTIES,
    HubSpotSinkConfig,
    HubSpotSourceConfig,
)
from leadflow.crm.writeback import WRITE_BACK_FIELDS, WriteResult
from leadflow.sources.files import CRM_COLUMNS

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.hubapi.com"
MAX_BATCH = 100
SEARCH_WINDOW = 10_000
"""HubSpot's search returns at most this many results per query: past it we search again from the last change."""
_MODIFIED = "lastmodifieddate"


class HubSpotAuthError(RuntimeError):
    """HubSpot refused the token (401/403): nothing more is attempted in this run."""


def _connection_host(conn: Any) -> str | None:
    host = (getattr(conn, "host", None) or "").rstrip("/")
    if not host:
        return None
    if "://" not in host:
        host = f"https://{host}"
    port = getattr(conn, "port", None)
    return f"{host}:{port}" if port and host.count(":") < 2 else host


def _error_text(exc: Exception) -> str:
    """`status category: message` of an API error, without headers (they never carry our token anyway)."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        data = {}
    if isinstance(data, dict) and data.get("message"):
        return f"{status} {data.get('category', 'ERROR')}: {data['message']}"[:500]
    return f"{status or type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"[:500]


class HubSpotApi:
    """A lazily built `hubspot.HubSpot` client: token and host from Airflow connection `conn_id` unless given."""

    def __init__(
        self,
        conn_id: str = "hubspot_default",
        *,
        token: str | None = None,
        host: str | None = None,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.conn_id = conn_id
        self._token = token
        self._host = host
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.timeout = timeout_seconds
        self._client: Any = None

    def __repr__(self) -> str:  # never shows the token
        return f"HubSpotApi(conn_id={self.conn_id!r}, host={self._host or DEFAULT_HOST!r})"

    @classmethod
    def from_config(cls, cfg: HubSpotSourceConfig | HubSpotSinkConfig) -> HubSpotApi:
        return cls(
            cfg.conn_id,
            max_retries=cfg.max_retries,
            backoff_seconds=cfg.backoff_seconds,
            timeout_seconds=cfg.timeout_seconds,
        )

    def retry(self) -> Retry:
        """Bounded retries on 429 and 5xx for every method (search and batch update are safe to repeat)."""
        return Retry(
            total=self.max_retries,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,
            backoff_factor=self.backoff_seconds,
            backoff_max=60,
            respect_retry_after_header=True,
            raise_on_status=False,
        )

    @property
    def client(self) -> Any:
        if self._client is None:
            from hubspot import HubSpot

            token, host = self._token, self._host
            if token is None:
                from airflow.sdk import BaseHook

                conn = BaseHook.get_connection(self.conn_id)
                token = conn.password or ""
                host = host or _connection_host(conn)
            if not token:
                raise HubSpotAuthError(f"no HubSpot token: set the password of Airflow connection {self.conn_id!r}")
            self._client = HubSpot(access_token=token, retry=self.retry(), host=host or DEFAULT_HOST)
        return self._client


def _to_datetime(value: Any) -> datetime | None:
    """A HubSpot timestamp (ISO-8601 or epoch milliseconds) as an aware datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _millis(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


class HubSpotCrmSource:
    """HubSpot contacts changed in [since, until), read with the search API sorted by last change."""

    def __init__(self, api: HubSpotApi, properties: dict[str, str] | None = None, page_size: int = 100) -> None:
        self.api = api
        self.properties = dict(properties or DEFAULT_HUBSPOT_SOURCE_PROPERTIES)
        unknown = sorted(set(self.properties) - set(CRM_COLUMNS))
        if unknown:
            raise ValueError(f"properties: {', '.join(unknown)} are not leadflow CRM columns")
        self.page_size = page_size
        self.name = "hubspot:contacts"

    @classmethod
    def from_config(cls, cfg: HubSpotSourceConfig) -> HubSpotCrmSource:
        return cls(HubSpotApi.from_config(cfg), cfg.properties, cfg.page_size)

    def _search(self, since: datetime | None, until: datetime, after: int) -> Any:
        from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest

        filters = [Filter(property_name=_MODIFIED, operator="LT", value=_millis(until))]
        if since is not None:
            filters.append(Filter(property_name=_MODIFIED, operator="GTE", value=_millis(since)))
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)],
            sorts=[{"propertyName": _MODIFIED, "direction": "ASCENDING"}],
            properties=sorted({*self.properties.values(), _MODIFIED}),
            limit=self.page_size,
            after=str(after) if after else None,
        )
        return self.api.client.crm.contacts.search_api.do_search(
            public_object_search_request=request, _request_timeout=self.api.timeout
        )

    def contacts(self, since: datetime | None, until: datetime) -> Iterator[Any]:
        """Every contact changed in [since, until) once, oldest change first, paging by `after`."""
        seen: set[str] = set()
        after = 0
        while True:
            page = self._search(since, until, after)
            for contact in page.results or []:
                if contact.id not in seen:
                    seen.add(contact.id)
                    yield contact
            nxt = page.paging.next.after if page.paging and page.paging.next else None
            if nxt is None:
                return
            after = int(nxt)
            if after + self.page_size > SEARCH_WINDOW:
                # the search window is full: search again from the last change seen (ids dedupe the overlap)
                last = _to_datetime((page.results[-1].properties or {}).get(_MODIFIED)) or page.results[-1].updated_at
                if since is not None and last <= since:
                    raise RuntimeError(f"more than {SEARCH_WINDOW} HubSpot contacts changed at {last.isoformat()}")
                since, after = last, 0

    def fetch(self, since: datetime | None, until: datetime) -> pd.DataFrame:
        rows = []
        for contact in self.contacts(since, until):
            props = contact.properties or {}
            row = {ours: props.get(theirs) for ours, theirs in self.properties.items()}
            row["crm_id"] = row.get("crm_id") or contact.id
            row["created_at"] = _to_datetime(row.get("created_at")) or contact.created_at
            row["updated_at"] = _to_datetime(row.get("updated_at")) or contact.updated_at
            rows.append(row)
        return pd.DataFrame(rows, columns=list(CRM_COLUMNS), dtype=object)


def property_value(field: str, value: Any) -> str:
    """A write-back value as HubSpot takes it: text; booleans true/false; empty clears the property."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool) or field in ("lead_heating_up", "lead_email_opt_out"):
        return "true" if bool(value) else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if field == "lead_score":
        return str(int(value))
    return str(value)


class HubSpotCrmSink:
    """Contacts' custom properties updated with the batch API, `chunk_size` contacts per request."""

    def __init__(self, api: HubSpotApi, properties: dict[str, str] | None = None, chunk_size: int = MAX_BATCH) -> None:
        if not 1 <= chunk_size <= MAX_BATCH:
            raise ValueError(f"chunk_size must be 1..{MAX_BATCH}")
        self.api = api
        self.properties = dict(properties or DEFAULT_HUBSPOT_SINK_PROPERTIES)
        unknown = sorted(set(self.properties) - set(WRITE_BACK_FIELDS))
        if unknown:
            raise ValueError(
                f"properties: {', '.join(unknown)} are not write-back fields ({', '.join(WRITE_BACK_FIELDS)})"
            )
        self.chunk_size = chunk_size

    @classmethod
    def from_config(cls, cfg: HubSpotSinkConfig) -> HubSpotCrmSink:
        return cls(HubSpotApi.from_config(cfg), cfg.properties, cfg.chunk_size)

    def inputs(self, changes: pd.DataFrame, scored_at: datetime) -> list[tuple[str, dict[str, str]]]:
        """(contact id, {property: value}) per changed lead."""
        out = []
        for record in changes.to_dict("records"):
            values = {**record, "lead_scored_at": scored_at}
            props = {
                self.properties[f]: property_value(f, values.get(f)) for f in WRITE_BACK_FIELDS if f in self.properties
            }
            out.append((str(record["crm_id"]), props))
        return out

    def _update(self, chunk: list[tuple[str, dict[str, str]]]) -> tuple[list[str], dict[str, str], bool]:
        """(written, failed, reached): `reached` is False when HubSpot never judged the records."""
        from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput
        from hubspot.crm.contacts.exceptions import ApiException

        ids = [cid for cid, _ in chunk]
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=cid, properties=props) for cid, props in chunk]
        )
        try:
            response = self.api.client.crm.contacts.batch_api.update(
                batch_input_simple_public_object_batch_input=body, _request_timeout=self.api.timeout
            )
        except ApiException as exc:
            if exc.status in (401, 403):
                raise HubSpotAuthError(_error_text(exc)) from None
            if exc.status == 400 and len(chunk) > 1:
                # HubSpot refuses the whole batch for one bad value: find the record(s) one by one
                written: list[str] = []
                failed: dict[str, str] = {}
                for single in chunk:
                    ok, bad, _ = self._update([single])
                    written += ok
                    failed.update(bad)
                return written, failed, True
            return [], dict.fromkeys(ids, _error_text(exc)), exc.status is not None and exc.status < 429
        except HTTPError as exc:
            return [], dict.fromkeys(ids, f"{type(exc).__name__}: {exc}"[:500]), False
        written = [r.id for r in response.results or []]
        messages: dict[str, str] = {}
        for error in getattr(response, "errors", None) or []:
            text = f"{error.category}: {error.message}"[:500]
            for cid in (error.context or {}).get("ids", []):
                messages[cid] = text
        done = set(written)
        return written, {cid: messages.get(cid, "not in HubSpot's response") for cid in ids if cid not in done}, True

    def write(self, changes: pd.DataFrame, scored_at: datetime) -> WriteResult:
        rows = self.inputs(changes, scored_at)
        written: list[str] = []
        failed: dict[str, str] = {}
        reached_any = False
        for start in range(0, len(rows), self.chunk_size):
            chunk = rows[start : start + self.chunk_size]
            try:
                ok, bad, reached = self._update(chunk)
            except HubSpotAuthError as exc:
                failed.update(dict.fromkeys((cid for cid, _ in rows[start:]), str(exc)))
                return WriteResult(written=written, failed=failed, error=f"HubSpot refused the token: {exc}")
            written += ok
            failed.update(bad)
            reached_any = reached_any or reached
        if rows and not reached_any:
            sample = next(iter(failed.values()), "")
            return WriteResult(written=written, failed=failed, error=f"HubSpot could not be reached: {sample}")
        return WriteResult(written=written, failed=failed)
