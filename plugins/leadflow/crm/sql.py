"""The SQL CRM source: a CRM database table reached through an Airflow connection, read incrementally.

`columns` in the configuration maps our column names to the CRM's; a column the CRM does not
have lands as null, except `crm_id`, `email` and `updated_at`, which it must have.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from leadflow.sources.files import SchemaDriftError
from leadflow.vocabulary import CRM_COLUMNS
from leadflow.warehouse import Warehouse, open_warehouse

REQUIRED = ("crm_id", "email", "updated_at")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)


def quote_identifier(name: str) -> str:
    """`schema.table` or `column` quoted part by part; anything but plain identifiers is refused."""
    parts = name.split(".")
    if not all(_IDENTIFIER.match(p) for p in parts):
        raise ValueError(f"{name!r} is not a plain SQL identifier (letters, digits, _ and $; dots between parts)")
    return ".".join(f'"{p}"' for p in parts)


class SqlCrmSource:
    """Leads from table `table` of the CRM database behind `conn_id` (opened on first use)."""

    def __init__(
        self,
        table: str,
        columns: dict[str, str] | None = None,
        conn_id: str = "leadflow_crm",
        crm: Warehouse | None = None,
    ) -> None:
        unknown = sorted(set(columns or {}) - set(CRM_COLUMNS))
        if unknown:
            raise ValueError(f"columns: {', '.join(unknown)} are not leadflow CRM columns ({', '.join(CRM_COLUMNS)})")
        self.table = table
        self.columns = dict(columns or {})
        self.conn_id = conn_id
        self.name = f"sql:{table}"
        self._crm = crm
        self._owned = False
        quote_identifier(table)

    @classmethod
    def from_config(cls, cfg: Any) -> SqlCrmSource:
        return cls(cfg.table, cfg.columns, cfg.conn_id)

    @property
    def crm(self) -> Warehouse:
        if self._crm is None:
            self._crm = open_warehouse(self.conn_id)
            self._owned = True
        return self._crm

    def close(self) -> None:
        if self._owned and self._crm is not None:
            self._crm.close()
            self._crm = None

    def select_list(self) -> list[tuple[str, str | None]]:
        """(our column, their quoted column or None) for every CRM column, checked against the table."""
        table = quote_identifier(self.table)
        available = set(self.crm.fetch_df(self.crm.model_sql("crm/source_columns.sql", table=table)).columns)
        pairs: list[tuple[str, str | None]] = []
        missing = []
        for ours in CRM_COLUMNS:
            theirs = self.columns.get(ours, ours)
            if theirs in available:
                pairs.append((ours, quote_identifier(theirs)))
            elif ours in REQUIRED or ours in self.columns:
                missing.append(f"{ours} (their {theirs!r})")
            else:
                pairs.append((ours, None))
        if missing:
            raise SchemaDriftError(
                f"CRM table {self.table}: missing column(s) {', '.join(missing)}; "
                f"found {', '.join(sorted(available))}. Fix the table or sources.crm.columns."
            )
        return pairs

    def count(self, until: datetime) -> int:
        """How many leads the table holds as of `until` (changed before it, or without updated_at)."""
        updated_at = quote_identifier(self.columns.get("updated_at", "updated_at"))
        sql = self.crm.model_sql("crm/source_count.sql", table=quote_identifier(self.table), updated_at=updated_at)
        return int(self.crm.scalar(sql, {"until": until}) or 0)

    def fetch(self, since: datetime | None, until: datetime) -> pd.DataFrame:
        """Leads whose updated_at is in [since, until), oldest change first."""
        sql = self.crm.model_sql("crm/source_leads.sql", table=quote_identifier(self.table), columns=self.select_list())
        return self.crm.fetch_df(sql, {"since": since or _EPOCH, "until": until})
