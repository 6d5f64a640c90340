"""How the command-line tools talk to a person: logging configured once, tables on stdout, progress on stderr.

Only entry points (`leadflow`, the bench harness) call `configure_logging`; library modules
log through `logging.getLogger(__name__)` and never print. Under Airflow, Airflow owns logging and this
module leaves it alone. Machine output (`--json`) is plain JSON on stdout, written by `print_json`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Generator, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

HANDLER_NAME = "leadflow-cli"
_state: dict[str, Any] = {"quiet": False}
# one stderr console for log lines and progress bars, so a log line prints above a running bar
_stderr = Console(stderr=True, highlight=False)

# URIs with a password, SendGrid API keys, email addresses: what a log line must never show.
_REDACTIONS = (
    (re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^\s:/@]+):[^\s@/]+@", re.I), r"\g<scheme>:***@"),
    (re.compile(r"\bSG\.[\w-]{8,}\.[\w-]{8,}"), "SG.***"),
    (re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I), "<email>"),
)


def redact(text: str) -> str:
    """`text` with passwords in URIs, SendGrid API keys and email addresses masked."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets and email addresses in a record's message and traceback before a handler emits it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def under_airflow() -> bool:
    """True inside an Airflow task (Airflow configures logging there, not us)."""
    if "AIRFLOW_CTX_DAG_ID" in os.environ:
        return True
    sdk = sys.modules.get("airflow.sdk")  # not imported: certainly not inside a task
    if sdk is None:
        return False
    try:
        sdk.get_current_context()
    except Exception:
        return False
    return True


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Log to stderr through one handler (rich on a terminal, plain lines otherwise): warnings and
    errors by default, leadflow's INFO too with -v (`verbose=1`), everything down to DEBUG with -vv,
    only errors with `quiet`. Calling it again replaces the handler it added, never adds a second one;
    `reset_logging` takes it away."""
    _state["quiet"] = quiet
    if under_airflow():
        return
    reset_logging()
    handler: logging.Handler
    if _stderr.is_terminal:
        handler = RichHandler(
            console=_stderr, show_path=verbose > 0, show_time=verbose > 0, markup=False, rich_tracebacks=False
        )
    else:  # a log file or a pipe: one plain line per record, never wrapped
        handler = _StderrHandler()
        handler.setFormatter(
            logging.Formatter(("%(asctime)s " if verbose else "") + "%(levelname)s %(name)s: %(message)s")
        )
    if quiet:
        ours = theirs = logging.ERROR
    else:
        ours = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
        theirs = logging.DEBUG if verbose > 1 else logging.WARNING
    handler.set_name(HANDLER_NAME)
    handler.addFilter(_LevelFilter(ours, theirs))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    if verbose and not quiet and root.level > ours:  # let leadflow's INFO/DEBUG records be made at all
        _state["root_level"] = root.level
        root.setLevel(min(ours, theirs))


def reset_logging() -> None:
    """Remove the handler `configure_logging` added and give the root logger its level back."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    level = _state.pop("root_level", None)
    if level is not None:
        root.setLevel(level)


class _StderrHandler(logging.StreamHandler):
    """A stream handler on whatever `sys.stderr` is when a record comes (not the one at creation)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _LevelFilter(logging.Filter):
    """Our own modules' records from `ours` up, every other library's from `theirs` up."""

    def __init__(self, ours: int, theirs: int) -> None:
        super().__init__()
        self.ours, self.theirs = ours, theirs

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.split(".", 1)[0] in ("leadflow", "benchmarks", "__main__")
        return record.levelno >= (self.ours if own else self.theirs)


def is_quiet() -> bool:
    """Whether the command was asked for --quiet (no progress bars, errors only)."""
    return _state["quiet"]


def console() -> Console:
    """The stdout console for human output: no markup or emoji parsing (CRM values are untrusted text),
    sentences never wrapped (tables fit the terminal)."""
    return Console(markup=False, emoji=False, highlight=False, soft_wrap=True)


@contextmanager
def progress(*, transient: bool = True) -> Generator[Progress]:
    """A progress display on stderr; silent when stderr is not a terminal or with --quiet."""
    err = _stderr
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=transient,
        disable=is_quiet() or not err.is_terminal,
    )
    with bar:
        yield bar


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a DataFrame: its rows
        return _plain(value.astype(object).where(value.notna(), None).to_dict(orient="records"))
    if hasattr(value, "item") and callable(value.item):  # numpy and pandas scalars
        return _plain(value.item())
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def to_json(data: Any) -> str:
    """`data` as stable JSON (dates as ISO strings, DataFrames as lists of rows, keys in their order)."""
    return json.dumps(_plain(data), ensure_ascii=False, indent=2)


def print_json(data: Any) -> None:
    """Write `data` to stdout as JSON (what `--json` prints: for scripts, nothing else on stdout)."""
    sys.stdout.write(to_json(data) + "\n")
    sys.stdout.flush()


def brief(outcome: Any) -> str:
    """A step's outcome in one readable cell: `key value, key value` for a mapping, else its text."""
    if isinstance(outcome, Mapping):
        parts = []
        for key, value in outcome.items():
            if isinstance(value, Mapping):
                value = "{" + brief(value) + "}" if value else "none"
            elif isinstance(value, list | tuple):
                value = ", ".join(str(v) for v in value) or "none"
            elif isinstance(value, int) and not isinstance(value, bool):
                value = f"{value:,}"
            parts.append(f"{key} {value}")
        return ", ".join(parts) or "—"
    return str(outcome)


def table(
    title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]], *, right: Iterable[str] = ()
) -> Table:
    """A simple table: `columns` headers, `right` of them right-aligned (numbers), every cell as text."""
    numeric = set(right)
    out = Table(title=title, title_justify="left", title_style="bold", header_style="bold", expand=False)
    for name in columns:
        out.add_column(name, justify="right" if name in numeric else "left", overflow="fold")
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    return out


def step_table(title: str | None, steps: Mapping[str, Any]) -> Table:
    """One row per step: its name and its outcome in words."""
    return table(title, ("step", "result"), ((name, brief(outcome)) for name, outcome in steps.items()))
