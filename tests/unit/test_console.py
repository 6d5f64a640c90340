"""`leadflow.console`: logging configured once, secrets and addresses never logged, stable JSON output."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from leadflow.console import HANDLER_NAME, brief, configure_logging, redact, reset_logging, to_json


@pytest.fixture
def clean_root():
    """Leave the root logger as the test found it (handlers and level)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def ours(root: logging.Logger) -> list[logging.Handler]:
    return [h for h in root.handlers if h.get_name() == HANDLER_NAME]


def test_configuring_twice_leaves_one_handler(clean_root) -> None:
    level = clean_root.level
    configure_logging()
    configure_logging(verbose=2)
    configure_logging(quiet=True)
    assert len(ours(clean_root)) == 1
    reset_logging()
    assert ours(clean_root) == [] and clean_root.level == level


def test_the_cli_leaves_no_handler_behind(clean_root, tmp_path, capsys) -> None:
    from leadflow.cli import main

    before = list(clean_root.handlers)
    for _ in range(2):  # a failing command too: the error is printed, the handler still removed
        assert main(["-v", "backfill", "--start", "2026-11-23", "--end", "2026-11-21", "--warehouse", "duckdb://"]) == 2
    assert clean_root.handlers == before
    assert capsys.readouterr().err.count("is before --start") == 2


def test_levels_follow_the_flags(clean_root, capsys) -> None:
    log = logging.getLogger("leadflow.some_module")
    configure_logging()
    log.info("info hidden by default")
    log.warning("warning shown by default")
    configure_logging(verbose=1)
    log.info("info shown with -v")
    configure_logging(quiet=True)
    log.warning("warning hidden with --quiet")
    log.error("error shown with --quiet")
    err = capsys.readouterr().err
    assert "warning shown by default" in err and "info shown with -v" in err and "error shown with --quiet" in err
    assert "info hidden by default" not in err and "warning hidden with --quiet" not in err


def test_a_log_line_never_shows_an_address_a_password_or_an_api_key(clean_root, capsys) -> None:
    configure_logging(verbose=2)
    log = logging.getLogger("leadflow.nurture.send")
    log.warning("send %s to %s failed", "k1", "Taro.Yamada+news@example.co.jp")
    log.warning("connecting to postgresql://leadflow:s3cret-pw@db.internal:5432/warehouse")
    log.warning("key SG.abcdefghijkl.mnopqrstuvwxyz0123 rejected")
    try:
        raise ValueError("bounce from hanako@example.com")
    except ValueError:
        log.exception("send failed")
    err = capsys.readouterr().err
    assert "k1" in err and "<email>" in err and "send failed" in err
    for secret in ("@example", "s3cret-pw", "abcdefghijkl", "hanako"):
        assert secret not in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("to a.b@example.com now", "to <email> now"),
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        # a host without a password or a top-level domain is not an address: kept as it is
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
        ("send CRM-000038 sent", "send CRM-000038 sent"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@dataclass
class Made:
    when: date
    where: Path
    rows: pd.DataFrame


def test_json_output_is_plain_and_stable() -> None:
    frame = pd.DataFrame({"crm_id": ["CRM-1", "CRM-2"], "score": [90.5, None]})
    made = Made(date(2026, 11, 22), Path("/tmp/x"), frame)
    text = to_json({"made": made, "counts": {"sent": pd.Series([3]).iloc[0]}, "nights": (date(2026, 11, 21),)})
    assert json.loads(text) == {
        "made": {
            "when": "2026-11-22",
            "where": "/tmp/x",
            "rows": [{"crm_id": "CRM-1", "score": 90.5}, {"crm_id": "CRM-2", "score": None}],
        },
        "counts": {"sent": 3},
        "nights": ["2026-11-21"],
    }
    assert to_json({"b": 1, "a": 2}).index('"b"') < to_json({"b": 1, "a": 2}).index('"a"')  # keys in their order


def test_brief_reads_a_step_result_in_words() -> None:
    step = {"planned": 1200, "by_reason": {"late": 2}, "files": [], "by_track": {}}
    assert brief(step) == "planned 1,200, by_reason {late 2}, files none, by_track none"
    assert brief("skipped") == "skipped"
