"""The SQL CRM source: a CRM table on PostgreSQL landed into raw.crm_leads, on both warehouse backends."""

from __future__ import annotations

from datetime import date

import pytest

from leadflow.config import SqlCrmSourceConfig
from leadflow.crm.source import extract_crm, extract_from
from leadflow.crm.sql import SqlCrmSource, quote_identifier
from leadflow.pipeline import stage_core
from leadflow.sources.files import SchemaDriftError
from leadflow.warehouse import connect

# their column names differ from ours for three columns; bant_* are absent and land as null
CRM_DDL = """
create schema sales;
create table sales.contacts (
    contact_no text primary key,
    email text,
    first_name text,
    last_name text,
    company text,
    industry text,
    headcount integer,
    job_title text,
    country text,
    locale text,
    timezone text,
    lead_source text,
    owner_email text,
    email_opt_in boolean,
    crm_status text,
    created_at timestamptz,
    modified timestamptz
)
"""
COLUMNS = {"crm_id": "contact_no", "employee_count": "headcount", "updated_at": "modified"}


def add_contact(crm, contact_no: str, modified: str, **values) -> None:
    row = {
        "contact_no": contact_no,
        "email": f"{contact_no.lower()}@example.co.jp",
        "first_name": "健太",
        "last_name": "佐藤",
        "company": "株式会社テスト",
        "industry": "software",
        "headcount": 120,
        "job_title": "部長",
        "country": "JP",
        "locale": "ja",
        "timezone": "Asia/Tokyo",
        "lead_source": "seo",
        "owner_email": "rep@leadflow.example",
        "email_opt_in": True,
        "crm_status": "new",
        "created_at": "2026-11-01T00:00:00+09:00",
        "modified": modified,
        **values,
    }
    names = ", ".join(row)
    binds = ", ".join(f":{k}" for k in row)
    crm.execute(f"insert into sales.contacts ({names}) values ({binds})", row)  # noqa: S608 — test fixture


@pytest.fixture
def crm(postgres_db):
    with connect(postgres_db) as crm:
        crm.run_script(CRM_DDL)
        yield crm


def raw_rows(wh, batch: str) -> list[dict]:
    frame = wh.fetch_df(
        "select crm_id, employee_count, email_opt_in, bant_budget, updated_at, _file, _row "
        "from raw.crm_leads where _batch_id = :b order by _row",
        {"b": batch},
    )
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_lands_mapped_columns_as_text_and_only_rows_before_the_cutoff(wh, settings, crm):
    add_contact(crm, "C1", "2026-11-20T10:00:00+09:00")
    # 23:59 local on the as-of day is inside it; 00:00 the next local day is not (cutoff is exclusive)
    add_contact(crm, "C2", "2026-11-22T23:59:00+09:00", headcount=None, email_opt_in=False)
    add_contact(crm, "C3", "2026-11-23T00:00:00+09:00")
    source = SqlCrmSource("sales.contacts", COLUMNS, crm=crm)

    summary = extract_from(wh, source, settings, date(2026, 11, 22), "2026-11-22")

    assert summary["rows"] == 2 and summary["since"] is None
    assert raw_rows(wh, "2026-11-22") == [
        {
            "crm_id": "C1",
            "employee_count": "120",
            "email_opt_in": "true",
            "bant_budget": None,
            "updated_at": "2026-11-20T01:00:00.000000+00:00",
            "_file": "sql:sales.contacts@2026-11-22",
            "_row": 1,
        },
        {
            "crm_id": "C2",
            "employee_count": None,
            "email_opt_in": "false",
            "bant_budget": None,
            "updated_at": "2026-11-22T14:59:00.000000+00:00",
            "_file": "sql:sales.contacts@2026-11-22",
            "_row": 2,
        },
    ]


def test_next_batch_pulls_only_changes_since_the_watermark_and_a_rerun_replaces_its_batch(wh, settings, crm):
    add_contact(crm, "C1", "2026-11-20T10:00:00+09:00")
    add_contact(crm, "C2", "2026-11-21T10:00:00+09:00")
    source = SqlCrmSource("sales.contacts", COLUMNS, crm=crm)
    extract_from(wh, source, settings, date(2026, 11, 21), "2026-11-21")
    crm.execute(
        "update sales.contacts set modified = '2026-11-22T09:00:00+09:00', job_title = 'CEO' where contact_no = 'C1'"
    )

    first = extract_from(wh, source, settings, date(2026, 11, 22), "2026-11-22")
    again = extract_from(wh, source, settings, date(2026, 11, 22), "2026-11-22")

    # the watermark is the newest change landed before this batch (C2's); `>=` re-reads that boundary row
    assert first["since"] == again["since"] == "2026-11-21T01:00:00+00:00"
    assert [r["crm_id"] for r in raw_rows(wh, "2026-11-22")] == ["C2", "C1"]
    assert wh.scalar("select count(*) from raw.crm_leads") == 4
    stage_core(wh, settings, date(2026, 11, 22))
    assert wh.scalar("select job_title from core.leads where crm_id = 'C1'") == "CEO"


def test_extract_sql_crm_reads_the_connection_named_in_the_config(wh, settings, crm, postgres_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_LEADFLOW_CRM_TEST", postgres_db)
    add_contact(crm, "C1", "2026-11-20T10:00:00+09:00")
    cfg = SqlCrmSourceConfig(conn_id="leadflow_crm_test", table="sales.contacts", columns=COLUMNS)

    summary = extract_crm(wh, settings, cfg, date(2026, 11, 22), "2026-11-22")

    assert summary["rows"] == 1


def test_a_missing_required_column_names_the_mapping(wh, settings, crm):
    source = SqlCrmSource("sales.contacts", {"crm_id": "contact_no"}, crm=crm)  # updated_at not mapped
    with pytest.raises(SchemaDriftError, match=r"updated_at \(their 'updated_at'\)"):
        extract_from(wh, source, settings, date(2026, 11, 22), "2026-11-22")


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("sales.contacts", '"sales"."contacts"'), ("Contact_No", '"Contact_No"')],
)
def test_quote_identifier_quotes_each_part(name, quoted):
    assert quote_identifier(name) == quoted


@pytest.mark.parametrize("name", ['x"; drop table y; --', "a b", "", "a..b"])
def test_quote_identifier_refuses_anything_but_identifiers(name):
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        quote_identifier(name)


def test_a_reconciliation_pulls_every_lead_and_a_deleted_one_leaves_core_leads(wh, settings, crm):
    add_contact(crm, "C1", "2026-11-20T10:00:00+09:00")
    add_contact(crm, "C2", "2026-11-20T11:00:00+09:00")
    add_contact(crm, "C3", "2026-11-20T12:00:00+09:00")
    add_contact(crm, "C4", None)  # no updated_at: pulled every night (for the raw gate to quarantine)
    source = SqlCrmSource("sales.contacts", COLUMNS, crm=crm)
    first = extract_from(wh, source, settings, date(2026, 11, 20), "2026-11-20", reconcile_every_days=2)
    stage_core(wh, settings, date(2026, 11, 20))
    assert (first["mode"], first["rows"], first["rows_read"]) == ("reconciliation", 4, 4)

    # night 2 pulls the change and the boundary row; the CRM's count is the volume the gate judges
    crm.execute("update sales.contacts set modified = '2026-11-21T09:00:00+09:00' where contact_no = 'C1'")
    second = extract_from(wh, source, settings, date(2026, 11, 21), "2026-11-21", reconcile_every_days=2)
    assert second["mode"] == "changed" and second["rows_read"] == 4
    assert [r["crm_id"] for r in raw_rows(wh, "2026-11-21")] == ["C3", "C1", "C4"]
    stage_core(wh, settings, date(2026, 11, 21))

    # night 3 reconciles: C2 was deleted in the CRM, C3's title edited without touching `modified`
    crm.execute("delete from sales.contacts where contact_no = 'C2'")
    crm.execute("update sales.contacts set job_title = 'CEO' where contact_no = 'C3'")
    third = extract_from(wh, source, settings, date(2026, 11, 22), "2026-11-22", reconcile_every_days=2)
    staged = stage_core(wh, settings, date(2026, 11, 22))

    assert (third["mode"], third["reason"], third["rows"]) == ("reconciliation", "cadence", 3)
    assert staged["deleted_leads"] == 1
    assert wh.fetchall("select crm_id, deleted_batch from core.deleted_leads") == [("C2", "2026-11-22")]
    titles = dict(wh.fetchall("select crm_id, job_title from core.leads"))
    assert "C2" not in titles and titles["C3"] == "CEO"
