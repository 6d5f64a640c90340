"""A thin wrapper around GX Core that validates pandas DataFrames the way leadflow's gates need.

It mirrors `airflow-provider-great-expectations` (which cannot be installed beside Airflow 3.3):
a validation is named (the provider uses the task id), its result is a JSON-serialisable dict fit
for XCom (`describe_dict()`), and a failed validation raises `ValidationFailed` listing the failed
expectations. Great Expectations is imported lazily (it costs ~5 s), so importing this module is
cheap for DAG parsing; the GX context is created once per process and cached.

Why an ephemeral context at run time: suites are defined in code next to the pandas helper columns
they assert on (see `raw.py`) and exported to the file context in `gx/` for review and Data Docs.
A file context would make every worker write `gx/great_expectations.yml` and its stores (racy under
parallel tasks, impossible on read-only images) for nothing we read back; the ephemeral context
costs ~3 ms and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import logging
import math
import os
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations import ExpectationSuite
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.datasource.fluent import PandasDatasource

# Read by GX when its context starts; set before the first import so nothing is ever sent.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

DATASOURCE = "leadflow"

DEFERRED_IMPORTS = ("scipy.stats", "altair")
"""Modules GX imports when it is imported, only for expectations leadflow never runs (KL divergence,
KS tests, and their charts): about 2 s of every validating task's start. They load on first use instead."""


class _Deferred(types.ModuleType):
    """Stands in `sys.modules` for a module until something reads one of its attributes; then the
    real module is imported and its namespace copied in, so earlier references keep working.
    (`importlib.util.LazyLoader` cannot do this on Python 3.11: the import statement itself reads
    the module's `__spec__` and loads it.)"""

    def __getattr__(self, attr: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def defer_unused_imports() -> None:
    """Stand-ins for DEFERRED_IMPORTS (a module already imported, or not installed, is left as it is)."""
    for name in DEFERRED_IMPORTS:
        if name not in sys.modules and importlib.util.find_spec(name.partition(".")[0]) is not None:
            sys.modules[name] = _Deferred(name)


ResultFormat = Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"] | dict[str, Any]

COMPLETE: dict[str, Any] = {
    "result_format": "COMPLETE",
    # Failing rows are reported by DataFrame index (positions, see `run`); the pandas query
    # string GX would also build lists every failing index again and is never read.
    "return_unexpected_index_query": False,
}


class ValidationFailed(Exception):
    """A run-level validation failure: the batch must not be written. `result` holds the details."""

    def __init__(self, message: str, *, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Expect:
    """One expectation as data: a GX Core expectation class name and its arguments.

    `check` is leadflow's stable name for the rule (stored in the expectation's `meta`, so results
    can be mapped back to it); `description` is the sentence shown in Data Docs.
    """

    type: str
    check: str
    description: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@cache
def context() -> AbstractDataContext:
    """The process-wide ephemeral GX context: no analytics, no progress bars, quiet logs."""
    defer_unused_imports()
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # GX logs every metric resolution problem at WARNING and more at INFO; the results carry them.
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    # GX md5-fingerprints every pandas batch under 1 GB only to name it in results we never store;
    # on a million rows that costs more than all the expectations together.
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0
    return ctx


@cache
def _datasource() -> PandasDatasource:
    """The one pandas data source that every validation's DataFrame asset hangs off."""
    return context().data_sources.add_pandas(name=DATASOURCE)


@cache
def _batch_definition(name: str) -> BatchDefinition:
    """A whole-DataFrame batch definition named after the validation (created once per process)."""
    return _datasource().add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(name=name)


def build_suite(name: str, expectations: Sequence[Expect]) -> ExpectationSuite:
    """A GX ExpectationSuite from leadflow's expectation specs (not registered in any store)."""
    defer_unused_imports()
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx.ExpectationSuite(
        name=name,
        expectations=[
            getattr(gxe, e.type)(**e.kwargs, meta={"check": e.check}, description=e.description) for e in expectations
        ],
    )


@cache
def _sql_batch_definition(url: str, schema: str, table: str, day_column: str) -> BatchDefinition:
    """A daily batch definition over `schema.table` of the PostgreSQL database at `url` (created once
    per process and database): GX pushes the day filter and every metric down as SQL."""
    import hashlib

    ds_name = f"{DATASOURCE}_pg_{hashlib.sha256(url.encode()).hexdigest()[:12]}"  # never the URL: it holds secrets
    try:
        ds = context().data_sources.get(ds_name)
    except KeyError:
        ds = context().data_sources.add_postgres(name=ds_name, connection_string=url)
    table_asset = ds.add_table_asset  # type: ignore[attr-defined]  # a PostgresDatasource, typed as its base
    asset = table_asset(name=f"{schema}.{table}", table_name=table, schema_name=schema)
    return asset.add_batch_definition_daily(name=f"{schema}.{table}.{day_column}", column=day_column)


def sql_url(raw: Any) -> str:
    """The SQLAlchemy URL (psycopg 3 driver) of the database a raw psycopg connection is open on, with
    every connection parameter it was opened with (sslmode, sslrootcert, options, ...), not only its address."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    info = raw.info
    params = {k: str(v) for k, v in conninfo_to_dict(info.dsn).items()}  # the dsn never holds the password
    address = {"user", "password", "host", "port", "dbname"}
    return URL.create(
        "postgresql+psycopg",
        username=params.get("user") or info.user or None,
        password=info.password or None,
        host=params.get("host") or info.host or None,
        port=int(params.get("port") or info.port) if (params.get("port") or info.port) else None,
        database=params.get("dbname") or info.dbname or None,
        query={k: v for k, v in params.items() if k not in address},
    ).render_as_string(hide_password=False)


def run(
    name: str,
    df: pd.DataFrame,
    suite: ExpectationSuite,
    *,
    parameters: Mapping[str, Any] | None = None,
    result_format: ResultFormat = COMPLETE,
) -> ExpectationSuiteValidationResult:
    """The raw GX result of validating `df` against `suite`.

    With COMPLETE results each failing expectation lists every failing row by `df`'s index, so
    give `df` a RangeIndex to get positions. An expectation that could not be evaluated at all
    (a missing column, a metric error) is a bug or schema drift, never bad rows: it raises.
    """
    return _validate(name, _batch_definition(name), {"dataframe": df}, suite, parameters, result_format)


def run_sql(
    name: str,
    url: str,
    table: str,
    day: dt.date,
    suite: ExpectationSuite,
    *,
    day_column: str = "as_of_date",
    parameters: Mapping[str, Any] | None = None,
    result_format: ResultFormat = "SUMMARY",
) -> ExpectationSuiteValidationResult:
    """The raw GX result of validating one day of PostgreSQL table `table` ("schema.name") in place.

    The GX SQL data source runs each metric as a query on the database (pushdown); nothing is
    fetched but the metrics. Raises like `run` when an expectation cannot be evaluated.
    """
    schema, _, rel = table.rpartition(".")
    definition = _sql_batch_definition(url, schema or "public", rel, day_column)
    batch = {"year": day.year, "month": day.month, "day": day.day}
    try:
        return _validate(name, definition, batch, suite, parameters, result_format)
    finally:
        # Long-lived workers must not keep idle connections to the warehouse between runs.
        definition.data_asset.datasource.get_execution_engine().engine.dispose()


def _validate(
    name: str,
    definition: BatchDefinition,
    batch_parameters: dict[str, Any],
    suite: ExpectationSuite,
    parameters: Mapping[str, Any] | None,
    result_format: ResultFormat,
) -> ExpectationSuiteValidationResult:
    # `Batch.validate` builds this same Validator but loads (and fingerprints) the batch twice;
    # `ValidationDefinition.run` would also keep every COMPLETE result in the context's store.
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(
        batch_definition=definition,
        batch_parameters=batch_parameters,
        result_format=result_format if isinstance(result_format, str) else dict(result_format),
    )
    result = validator.validate_expectation_suite(suite, dict(parameters or {}))
    broken = [r for r in result.results if r.exception_info.get("raised_exception")]
    if broken:
        lines = [f"{name}: {len(broken)} expectation(s) could not be evaluated on this batch:"]
        lines += [f"  - {_label(r.expectation_config)}: {r.exception_info.get('exception_message')}" for r in broken]
        raise ValidationFailed("\n".join(lines), result=jsonable(result.describe_dict()))
    return result


def validate_dataframe(
    name: str,
    df: pd.DataFrame,
    expect: Sequence[Expect] | ExpectationSuite,
    *,
    parameters: Mapping[str, Any] | None = None,
    result_format: ResultFormat = "SUMMARY",
    batch: str | None = None,
) -> dict:
    """Provider-style validation: the XCom-ready result dict, or ValidationFailed when any fails.

    The message lists each failed expectation with its column and observed counts, so the task
    log alone tells a data engineer which check failed on which batch.
    """
    suite = expect if not isinstance(expect, Sequence) else build_suite(name, expect)
    result = run(name, df, suite, parameters=parameters, result_format=result_format)
    described = jsonable(result.describe_dict())
    if not result.success:
        failed = [r for r in result.results if not r.success]
        where = f" (batch {batch})" if batch else ""
        lines = [f"{name}: {len(failed)} of {len(result.results)} expectations failed{where}:"]
        for r in failed:
            observed = r.result.get("observed_value")
            count = r.result.get("unexpected_count")
            seen = f"observed {observed!r}" if count is None else _unexpected_text(r.result)
            lines.append(f"  - {_label(r.expectation_config)}: {seen}")
        raise ValidationFailed("\n".join(lines), result=described)
    return described


def check_of(r: Any) -> str | None:
    """The leadflow check name an expectation result belongs to (from the expectation's meta)."""
    cfg = r.expectation_config
    return (cfg.meta or {}).get("check") if cfg is not None else None


def describe_result(r: Any) -> dict:
    """One expectation's result as a small JSON-serialisable dict (no per-row lists)."""
    cfg = r.expectation_config
    res = r.result
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in {"batch_id", "result_format"}}
    return {
        "expectation": cfg.type,
        "check": check_of(r),
        "column": kwargs.get("column"),
        "success": bool(r.success),
        "element_count": res.get("element_count"),
        "unexpected_count": res.get("unexpected_count"),
        "details": jsonable(
            {
                "kwargs": kwargs,
                "unexpected_percent": res.get("unexpected_percent"),
                "observed_value": res.get("observed_value"),
            }
        ),
    }


@dataclass(frozen=True)
class Counts:
    """A column-map expectation's counts on one chunk of a batch: they add up over the chunks."""

    element_count: int
    unexpected_count: int
    missing_count: int | None
    """None when GX does not count missing values apart (then the percent is of every element)."""

    @classmethod
    def of(cls, r: Any) -> Counts:
        res = r.result
        missing = res.get("missing_count")
        return cls(int(res.get("element_count") or 0), int(res.get("unexpected_count") or 0), missing)

    def __add__(self, other: Counts) -> Counts:
        missing = None if self.missing_count is None else self.missing_count + (other.missing_count or 0)
        return Counts(self.element_count + other.element_count, self.unexpected_count + other.unexpected_count, missing)


def with_counts(item: dict, total: Counts) -> dict:
    """`item` (one chunk's `describe_result`) with the counts, percent and success of the whole batch,
    computed from `total` as GX computes them for one batch (`_format_map_output`, no `mostly`)."""
    nonnull = None if total.missing_count is None else total.element_count - total.missing_count
    percent: float | None = None
    if total.element_count > 0:
        if nonnull is None:
            percent = total.unexpected_count / total.element_count * 100
        elif nonnull > 0:
            percent = total.unexpected_count / nonnull * 100
    vacuous = total.element_count == 0 or nonnull == 0
    return {
        **item,
        "success": vacuous or total.unexpected_count == 0,
        "element_count": total.element_count,
        "unexpected_count": total.unexpected_count,
        "details": {**item["details"], "unexpected_percent": percent},
    }


def jsonable(value: Any) -> Any:
    """`value` with datetimes, numpy values, NaN/NaT and sets turned into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return [jsonable(v) for v in sorted(value, key=str)]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat() if value == value else None  # NaT is not equal to itself
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _label(cfg: Any) -> str:
    column = cfg.kwargs.get("column")
    check = (cfg.meta or {}).get("check")
    args = ", ".join(part for part in (f"column={column}" if column else "", check or "") if part)
    return f"{cfg.type}({args})"


def _unexpected_text(res: Mapping[str, Any]) -> str:
    count = res.get("unexpected_count") or 0
    total = res.get("element_count") or 0
    share = f" ({100 * count / total:.1f} %)" if total else ""
    sample = [v for v in res.get("partial_unexpected_list") or [] if v is not None and v == v]  # not NaN
    values = ", ".join(repr(v) for v in sample[:5])
    return f"{count:,} of {total:,} values unexpected{share}" + (f", e.g. {values}" if values else "")
