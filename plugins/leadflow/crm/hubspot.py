"""HubSpot through the official `hubspot-api-client`: contacts pulled by last change, fields written in batches.

HubSpot's values are translated on the way in (`HubSpotValues`): `hs_lead_status` options to
leadflow's crm_status through `lead_status_map`, `hs_timezone` values (`asia_slash_tokyo`) to IANA
names, `hs_language` (`ja-jp`) to ja/en, `numemployees` ranges (`100-500`) to their lower bound, and
owner ids to the owners' emails (owners API). A value with no translation lands as HubSpot sent
it, so the raw gate quarantines that contact with the value in its reason; the pull's summary
counts such values per column and a warning names the setting to extend. A mapped property the
portal does not have is a configuration error before anything lands. The sink creates the
properties it writes (in their own group) when the portal lacks them, once.

The private-app token is the password of an Airflow connection (`hubspot_default`), looked up
on first use and never logged; the connection's host, when set, replaces https://api.hubapi.com.
Retries are one layer, the client's own urllib3 `Retry`: bounded, on 429 and 5xx, honouring
Retry-After. A record HubSpot refuses is reported as failed and written again next run.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import pandas as pd
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from leadflow.config import ConfigError
from leadflow.crm.config import (
    DEFAULT_HUBSPOT_LEAD_STATUS_MAP,
    DEFAULT_HUBSPOT_SINK_PROPERTIES,
    DEFAULT_HUBSPOT_SOURCE_PROPERTIES,
    DEFAULT_HUBSPOT_TIMEZONE_MAP,
    HubSpotSinkConfig,
    HubSpotSourceConfig,
)
from leadflow.crm.sink import WRITE_BACK_FIELDS, WriteResult
from leadflow.vocabulary import CRM_COLUMNS, STAGES

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.hubapi.com"
MAX_BATCH = 100
SEARCH_WINDOW = 10_000
"""HubSpot's search returns at most this many results per query: past it we search again from the last change."""
_MODIFIED = "lastmodifieddate"


class HubSpotAuthError(RuntimeError):
    """HubSpot refused the token (401/403): nothing more is attempted in this run."""


class HubSpotConfigError(ConfigError):
    """leadflow's HubSpot settings do not fit the portal (a property it lacks): fix the config, no retry helps."""


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


# -- HubSpot's values -> leadflow's -------------------------------------------------------------------

LOCALES = ("ja", "en")
_EMPLOYEE_RANGE = re.compile(r"^\s*(\d[\d,]*)\s*(?:[-–~]\s*\d[\d,]*|\+)\s*$")


@cache
def _iana_names() -> dict[str, str]:
    """Every IANA zone name the system knows, keyed by its lower-case form."""
    return {name.lower(): name for name in available_timezones()}


def hubspot_timezone(value: str, overrides: Mapping[str, str] = DEFAULT_HUBSPOT_TIMEZONE_MAP) -> str | None:
    """The IANA name of an `hs_timezone` value (`america_slash_new_york` -> America/New_York), or None."""
    text = value.strip()
    if text in overrides:
        return overrides[text]
    key = text.lower().replace("_slash_", "/").replace("_hyphen_", "-")
    return _iana_names().get(key)


def hubspot_locale(value: str, overrides: Mapping[str, str] | None = None) -> str | None:
    """ja/en for an `hs_language` value (`ja-jp` -> ja: its primary language subtag), or None."""
    text = value.strip()
    if overrides and text in overrides:
        return overrides[text]
    primary = text.lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in LOCALES else None


def hubspot_employee_count(value: str) -> str | None:
    """A whole count for a `numemployees` value: digits as they are, a range (`100-500`, `1000+`) its lower bound."""
    text = value.strip()
    if text.replace(",", "").isdigit():
        return text
    match = _EMPLOYEE_RANGE.match(text)
    return match.group(1).replace(",", "") if match else None


class HubSpotOwners:
    """Owner id -> email of the portal's active owners, read once with the owners API (GET /crm/v3/owners)."""

    def __init__(self, api: HubSpotApi, page_size: int = 100) -> None:
        self.api = api
        self.page_size = page_size
        self._emails: dict[str, str] | None = None

    def emails(self) -> dict[str, str]:
        if self._emails is None:
            from hubspot.crm.owners.exceptions import ApiException

            emails: dict[str, str] = {}
            after: str | None = None
            while True:
                try:
                    page = self.api.client.crm.owners.owners_api.get_page(
                        limit=self.page_size, after=after, archived=False, _request_timeout=self.api.timeout
                    )
                except ApiException as exc:
                    if exc.status in (401, 403):
                        scope = " (the private app needs scope crm.objects.owners.read)" if exc.status == 403 else ""
                        raise HubSpotAuthError(f"owners API: {_error_text(exc)}{scope}") from None
                    raise
                for owner in page.results or []:
                    if owner.email:  # a queue has no email
                        emails[str(owner.id)] = owner.email
                after = page.paging.next.after if page.paging and page.paging.next else None
                if not after:
                    break
            self._emails = emails
        return self._emails


class HubSpotValues:
    """Turns a pulled frame's HubSpot values into leadflow's, counting what it could not translate."""

    def __init__(
        self,
        lead_status_map: Mapping[str, str] | None = None,
        timezone_map: Mapping[str, str] | None = None,
        locale_map: Mapping[str, str] | None = None,
        owners: HubSpotOwners | None = None,
    ) -> None:
        self.lead_status_map = dict(DEFAULT_HUBSPOT_LEAD_STATUS_MAP if lead_status_map is None else lead_status_map)
        self.timezone_map = dict(DEFAULT_HUBSPOT_TIMEZONE_MAP if timezone_map is None else timezone_map)
        self.locale_map = dict(locale_map or {})
        self.owners = owners

    def _column(self, frame: pd.DataFrame, column: str, translate: Any, unmapped: dict[str, Counter]) -> None:
        """`translate` once per distinct value; a value it cannot translate (None) stays as it was."""
        if column not in frame:
            return
        done: dict[str, Any] = {}
        out = []
        for value in frame[column]:
            if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
                out.append(value)
                continue
            text = str(value)
            if text not in done:
                done[text] = translate(text)
            if done[text] is None:
                unmapped.setdefault(column, Counter())[text] += 1
            out.append(value if done[text] is None else done[text])
        frame[column] = pd.Series(out, index=frame.index, dtype=object)

    def apply(self, frame: pd.DataFrame) -> dict[str, Counter]:
        """Translate `frame` in place; returns {column: Counter(untranslated value: contacts)}."""
        unmapped: dict[str, Counter] = {}
        self._column(frame, "crm_status", lambda v: self.lead_status_map.get(v.strip()), unmapped)
        self._column(frame, "timezone", lambda v: hubspot_timezone(v, self.timezone_map), unmapped)
        self._column(frame, "locale", lambda v: hubspot_locale(v, self.locale_map), unmapped)
        self._column(frame, "employee_count", hubspot_employee_count, unmapped)
        if self.owners is not None and "owner_email" in frame and frame["owner_email"].notna().any():
            emails = self.owners.emails()
            unknown: Counter = Counter()
            owners: list[str | None] = []
            for value in frame["owner_email"]:
                if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
                    owners.append(None)
                elif str(value).strip() in emails:
                    owners.append(emails[str(value).strip()])
                else:
                    # not an active owner (deactivated, or a team): the lead lands without one
                    unknown[str(value)] += 1
                    owners.append(None)
            frame["owner_email"] = pd.Series(owners, index=frame.index, dtype=object)
            if unknown:
                unmapped["owner_email"] = unknown
        return unmapped


_SETTING = {
    "crm_status": "sources.crm.lead_status_map",
    "timezone": "sources.crm.timezone_map",
    "locale": "sources.crm.locale_map",
    "employee_count": "sources.crm.properties (employee_count from a number property)",
    "owner_email": "the portal's owners (Settings > Users)",
}


def unmapped_message(unmapped: Mapping[str, Counter]) -> str:
    """One line per column: the untranslated values, how many contacts carry each, and what to change."""
    lines = []
    for column, counts in unmapped.items():
        shown = ", ".join(f"{v!r} ({n})" for v, n in counts.most_common(10))
        more = f" and {len(counts) - 10} more" if len(counts) > 10 else ""
        if column == "owner_email":
            lines.append(f"owner_email: owner id(s) {shown}{more} are not active HubSpot owners: landed without owner")
        else:
            lines.append(
                f"{column}: HubSpot value(s) {shown}{more} have no leadflow value: those contacts are "
                f"quarantined; map them in {_SETTING[column]}"
            )
    return "; ".join(lines)


class HubSpotCrmSource:
    """HubSpot contacts changed in [since, until), read with the search API sorted by last change."""

    def __init__(
        self,
        api: HubSpotApi,
        properties: dict[str, str] | None = None,
        page_size: int = 100,
        values: HubSpotValues | None = None,
    ) -> None:
        self.api = api
        self.properties = dict(properties or DEFAULT_HUBSPOT_SOURCE_PROPERTIES)
        unknown = sorted(set(self.properties) - set(CRM_COLUMNS))
        if unknown:
            raise ValueError(f"properties: {', '.join(unknown)} are not leadflow CRM columns")
        self.page_size = page_size
        self.values = values if values is not None else HubSpotValues(owners=HubSpotOwners(api))
        self.name = "hubspot:contacts"
        self.unmapped: dict[str, Counter] = {}

    @classmethod
    def from_config(cls, cfg: HubSpotSourceConfig) -> HubSpotCrmSource:
        api = HubSpotApi.from_config(cfg)
        values = HubSpotValues(
            cfg.lead_status_map, cfg.timezone_map, cfg.locale_map, HubSpotOwners(api) if cfg.owner_ids else None
        )
        return cls(api, cfg.properties, cfg.page_size, values)

    def check_properties(self) -> None:
        """A mapped property the portal lacks would land as an empty column every night: refuse it now."""
        from hubspot.crm.properties.exceptions import ApiException

        try:
            found = self.api.client.crm.properties.core_api.get_all(
                object_type="contacts", archived=False, _request_timeout=self.api.timeout
            )
        except ApiException as exc:
            if exc.status in (401, 403):
                raise HubSpotAuthError(f"properties API: {_error_text(exc)}") from None
            raise
        by_name = {p.name: p for p in found.results or []}
        have = set(by_name)
        missing = {ours: theirs for ours, theirs in self.properties.items() if theirs not in have}
        if missing:
            shown = ", ".join(f"{ours}: {theirs}" for ours, theirs in sorted(missing.items()))
            raise HubSpotConfigError(
                f"HubSpot has no contact propert{'y' if len(missing) == 1 else 'ies'} {shown}: "
                "fix sources.crm.properties (our column: HubSpot property) or create them in HubSpot"
            )
        status = by_name.get(self.properties.get("crm_status", ""))
        options = [o.value for o in (status.options or [])] if status is not None else []
        unmapped = [v for v in options if v not in self.values.lead_status_map]
        # a heads-up before any contact carries one (those contacts would be quarantined)
        if status is not None and unmapped:
            log.warning(
                "HubSpot %s option(s) %s have no leadflow crm_status: add them to sources.crm.lead_status_map",
                status.name,
                ", ".join(unmapped),
            )

    def summary(self) -> dict[str, Any]:
        """What the last pull could not translate: {column: {HubSpot value: contacts}}."""
        return {"unmapped": {c: dict(n) for c, n in self.unmapped.items()}} if self.unmapped else {}

    def count(self, until: datetime) -> int:
        """How many contacts HubSpot holds as of `until` (the search API's total of one small page)."""
        return int(self._search(None, until, 0, limit=1).total or 0)

    def _search(self, since: datetime | None, until: datetime, after: int, limit: int | None = None) -> Any:
        from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest

        filters = [Filter(property_name=_MODIFIED, operator="LT", value=_millis(until))]
        if since is not None:
            filters.append(Filter(property_name=_MODIFIED, operator="GTE", value=_millis(since)))
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=filters)],
            sorts=[{"propertyName": _MODIFIED, "direction": "ASCENDING"}],
            properties=sorted({*self.properties.values(), _MODIFIED}),
            limit=limit or self.page_size,
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
        """Contacts changed in [since, until) with our column names and leadflow's values."""
        self.check_properties()
        rows = []
        for contact in self.contacts(since, until):
            props = contact.properties or {}
            row = {ours: props.get(theirs) for ours, theirs in self.properties.items()}
            row["crm_id"] = row.get("crm_id") or contact.id
            row["created_at"] = _to_datetime(row.get("created_at")) or contact.created_at
            row["updated_at"] = _to_datetime(row.get("updated_at")) or contact.updated_at
            rows.append(row)
        frame = pd.DataFrame(rows, columns=list(CRM_COLUMNS), dtype=object)
        self.unmapped = self.values.apply(frame)
        if self.unmapped:
            log.warning("HubSpot pull: %s", unmapped_message(self.unmapped))
        return frame


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


_GRADES = ("A", "B", "C", "D")
_STAGE_LABELS = {
    "cold": ("コールド", "Cold"),
    "warm": ("ウォーム", "Warm"),
    "hot": ("ホット", "Hot"),
    "sales_qualified": ("営業対応可 (SQL)", "Sales qualified"),
    "recycled": ("リサイクル", "Recycled"),
    "disqualified": ("対象外", "Disqualified"),
    "customer": ("顧客", "Customer"),
}
# write-back field -> (HubSpot type, field type, options as (value, ja, en), ja label, en label)
SINK_PROPERTY_SPECS: dict[str, tuple[str, str, tuple[tuple[str, str, str], ...], str, str]] = {
    "lead_score": ("number", "number", (), "リードスコア", "Lead score"),
    "lead_fit_grade": ("enumeration", "select", tuple((g, g, g) for g in _GRADES), "適合度グレード", "Fit grade"),
    "lead_stage": (
        "enumeration",
        "select",
        tuple((s, *_STAGE_LABELS.get(s, (s, s))) for s in STAGES),
        "リードステージ",
        "Lead stage",
    ),
    "lead_score_reasons": ("string", "textarea", (), "スコアの理由", "Score reasons"),
    "lead_heating_up": (
        "bool",
        "booleancheckbox",
        (("true", "はい", "Yes"), ("false", "いいえ", "No")),
        "関心上昇中",
        "Heating up",
    ),
    "lead_scored_at": ("datetime", "date", (), "スコア算出日時", "Scored at"),
}
GROUP_LABELS = {"ja": "leadflow スコアリング", "en": "leadflow scoring"}


def _bilingual(ja: str, en: str, locale: str) -> tuple[str, str]:
    """(label, description): HubSpot labels are one string, so the other language goes in the description."""
    return (ja, f"{en} (leadflow)") if locale == "ja" else (en, f"{ja} (leadflow)")


def property_definitions(properties: Mapping[str, str], group: str, locale: str = "ja") -> list[Any]:
    """The contact properties a sink writes (`PropertyCreate`s), labelled in `locale`, the other language described."""
    from hubspot.crm.properties import OptionInput, PropertyCreate

    out = []
    for order, (field, name) in enumerate(properties.items()):
        kind, field_type, options, ja, en = SINK_PROPERTY_SPECS[field]
        label, description = _bilingual(ja, en, locale)
        choices = []
        for i, (value, o_ja, o_en) in enumerate(options):
            o_label, o_description = _bilingual(o_ja, o_en, locale)
            choices.append(
                OptionInput(label=o_label, description=o_description, value=value, display_order=i, hidden=False)
            )
        out.append(
            PropertyCreate(
                name=name,
                label=label,
                description=description,
                group_name=group,
                type=kind,
                field_type=field_type,
                display_order=order,
                form_field=False,
                options=choices or None,
            )
        )
    return out


class HubSpotCrmSink:
    """Contacts' custom properties updated with the batch API, `chunk_size` contacts per request."""

    def __init__(
        self,
        api: HubSpotApi,
        properties: dict[str, str] | None = None,
        chunk_size: int = MAX_BATCH,
        *,
        create_properties: bool = True,
        property_group: str = "leadflow",
        label_locale: str = "ja",
    ) -> None:
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
        self.create_properties = create_properties
        self.property_group = property_group
        self.label_locale = label_locale
        self.created: list[str] = []
        self._ready = False

    @classmethod
    def from_config(cls, cfg: HubSpotSinkConfig) -> HubSpotCrmSink:
        return cls(
            HubSpotApi.from_config(cfg),
            cfg.properties,
            cfg.chunk_size,
            create_properties=cfg.create_properties,
            property_group=cfg.property_group,
            label_locale=cfg.label_locale,
        )

    def ensure_properties(self) -> None:
        """Create the written properties (and their group) the portal lacks; once per sink, nothing when all exist.

        Raises HubSpotConfigError when some are missing and creating them is off, and HubSpotAuthError
        when HubSpot refuses (the private app needs scope crm.schemas.contacts.write).
        """
        if self._ready:
            return
        from hubspot.crm.properties import PropertyGroupCreate
        from hubspot.crm.properties.exceptions import ApiException

        api = self.api.client.crm.properties
        timeout = self.api.timeout
        try:
            have = {
                p.name for p in api.core_api.get_all(object_type="contacts", _request_timeout=timeout).results or []
            }
            wanted = property_definitions(self.properties, self.property_group, self.label_locale)
            missing = [d for d in wanted if d.name not in have]
            if missing and not self.create_properties:
                raise HubSpotConfigError(
                    f"HubSpot has no contact propert{'y' if len(missing) == 1 else 'ies'} "
                    f"{', '.join(d.name for d in missing)} to write: create them, or set crm_sink.create_properties"
                )
            if missing:
                groups = api.groups_api.get_all(object_type="contacts", _request_timeout=timeout).results or []
                if self.property_group not in {g.name for g in groups}:
                    group = PropertyGroupCreate(
                        name=self.property_group, label=GROUP_LABELS[self.label_locale], display_order=-1
                    )
                    api.groups_api.create(object_type="contacts", property_group_create=group, _request_timeout=timeout)
                for definition in missing:
                    try:
                        api.core_api.create(
                            object_type="contacts", property_create=definition, _request_timeout=timeout
                        )
                    except ApiException as exc:
                        if exc.status != 409:  # 409: another run created it meanwhile: fine
                            raise
                    self.created.append(definition.name)
                log.info("HubSpot: created contact properties %s", ", ".join(self.created))
        except ApiException as exc:
            if exc.status in (401, 403):
                scope = " (the private app needs scope crm.schemas.contacts.write)" if exc.status == 403 else ""
                raise HubSpotAuthError(f"properties API: {_error_text(exc)}{scope}") from None
            if exc.status is not None and exc.status < 429:
                raise HubSpotConfigError(f"HubSpot refused leadflow's contact properties: {_error_text(exc)}") from None
            raise  # 429 / 5xx after the client's retries: transient
        self._ready = True

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
        if rows:
            from hubspot.crm.properties.exceptions import ApiException

            try:
                self.ensure_properties()  # a HubSpotConfigError propagates: no retry can fix it
            except HubSpotAuthError as exc:
                refused = dict.fromkeys((cid for cid, _ in rows), str(exc))
                return WriteResult(written=[], failed=refused, error=f"HubSpot refused the token: {exc}")
            except (ApiException, HTTPError) as exc:
                reason = _error_text(exc)
                refused = dict.fromkeys((cid for cid, _ in rows), reason)
                return WriteResult(written=[], failed=refused, error=f"HubSpot could not be reached: {reason}")
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
