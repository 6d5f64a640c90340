"""Research harness: the real send path (`send_planned`: claim, call, mark through the ledger) for N
planned emails against the local SendGrid-compatible server. Not part of the pipeline.

    LEADFLOW_HOME=$PWD .venv/bin/python docs/research/send-ledger/measure.py 2000 duckdb [EXTRA_LEADS]
    LEADFLOW_HOME=$PWD .venv/bin/python docs/research/send-ledger/measure.py 2000 postgresql://postgres@127.0.0.1/db

N cold leads are enrolled and planned (the first step of the cold track) on a new warehouse, with
EXTRA_LEADS more leads in `core.leads` that are not enrolled (the ledger's consent check reads
`core.leads`); then `send_planned` is timed. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("LEADFLOW_HOME", Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LEADFLOW_LINK_SECRET", "send-ledger-research")

from leadflow.config import load_settings  # noqa: E402
from leadflow.nurture.mailer import SendGridMailer  # noqa: E402
from leadflow.nurture.plan import plan_sends  # noqa: E402
from leadflow.nurture.send import send_planned  # noqa: E402
from leadflow.pipeline import create_schemas  # noqa: E402
from leadflow.warehouse import connect  # noqa: E402
from tests.sql.rows import add_leads  # noqa: E402
from tests.sql.test_nurture_ledger import AS_OF, cold_leads  # noqa: E402


def main(emails: int, backend: str, extra_leads: int = 0) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="send-ledger-"))
    base = load_settings(ROOT / "config" / "leadflow.yml")
    settings = base.model_copy(
        update={
            "mailer": base.mailer.model_copy(update={"kind": "sendgrid", "outbox": scratch / "outbox"}),
            "nurture": base.nurture.model_copy(update={"max_emails_per_run": emails * 2}),
            "home": ROOT,
        }
    )
    uri = f"duckdb://{scratch / 'warehouse.duckdb'}" if backend == "duckdb" else backend
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fixtures" / "sendgrid_server.py"), "--port", "0", "--counts-only"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = (server.stdout.readline() if server.stdout else "").split("listening on ", 1)[1].split(" ", 1)[0]
        with connect(uri) as wh:
            create_schemas(wh)
            cold_leads(wh, *(f"B{i:07d}" for i in range(emails)))
            if extra_leads:
                add_leads(wh, *({"crm_id": f"X{i:07d}"} for i in range(extra_leads)))
            planned = plan_sends(wh, settings, AS_OF)["planned"]
            mailer = SendGridMailer("SG.research", settings.mailer, host=url)
            cpu, t0 = os.times(), time.perf_counter()
            counts = send_planned(wh, settings, AS_OF, mailer)
            seconds, cpu_after = time.perf_counter() - t0, os.times()
    finally:
        server.terminate()
        server.wait(timeout=10)
    client_cpu = (cpu_after.user - cpu.user) + (cpu_after.system - cpu.system)
    return {
        "backend": "duckdb" if backend == "duckdb" else "postgres",
        "leads": emails + extra_leads,
        "planned": planned,
        "sent": counts["sent"],
        "seconds": round(seconds, 2),
        "emails_per_second": round(counts["sent"] / seconds, 1),
        "sender_cpu_ms_per_email": round(client_cpu * 1000 / max(counts["sent"], 1), 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)))
