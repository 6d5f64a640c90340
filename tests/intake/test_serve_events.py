"""Pushed web events against a running `leadflow serve`: signatures, dedup, hostile bodies, rate limits,
and kill -9 mid-stream losing nothing that was answered 2xx."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from leadflow.intake.inbox import NOTIFY_CHANNEL
from leadflow.intake.webhook import intake_signature
from tests.intake.serve_process import INTAKE_SECRET, free_port, inbox_rows


def batch(*ids: str, event_type: str = "demo_request") -> list[dict]:
    return [
        {
            "event_id": i,
            "email": f"{i}@example.co.jp",
            "event_type": event_type,
            "occurred_at": "2026-12-07T10:00:00+09:00",
            "url": "https://leadflow.example/demo",
            "properties": {"form": "demo"},
        }
        for i in ids
    ]


def post(service, body: bytes, content_type: str = "application/json", signature: str | None = None, **kw):
    headers = {
        "Content-Type": content_type,
        "X-Leadflow-Signature": signature if signature is not None else intake_signature(INTAKE_SECRET, body),
    }
    return httpx.post(f"{service.url}/events", content=body, headers=headers, **kw)


def test_a_batch_delivered_twice_is_kept_once(service):
    body = json.dumps(batch("e1", "e2")).encode()
    assert post(service, body).status_code == 202
    assert post(service, body).status_code == 202
    lines = "\n".join(json.dumps(e) for e in batch("e2", "e3")).encode()  # JSON lines, overlapping
    response = post(service, lines, "application/x-ndjson")
    assert response.status_code == 202 and response.json() == {"accepted": 2}
    rows = inbox_rows(service)
    assert [(k, key) for k, key, _ in rows] == [("web_event", "e1"), ("web_event", "e2"), ("web_event", "e3")]
    assert rows[0][2] == batch("e1")[0]  # the object as received


def test_bad_or_missing_signatures_get_401(start_service):
    service = start_service()
    body = json.dumps(batch("e1")).encode()
    for signature in ("", "sha256=" + "0" * 64, intake_signature("wrong-secret", body), "md5=abc", "sha256="):
        assert post(service, body, signature=signature).status_code == 401, signature
    tampered = json.dumps(batch("e2")).encode()
    assert post(service, tampered, signature=intake_signature(INTAKE_SECRET, body)).status_code == 401
    assert inbox_rows(service) == []


def test_hostile_bodies_get_a_clear_4xx_never_a_500(start_service):
    service = start_service(intake={"max_body_bytes": 1_000_000})
    cases = {
        "invalid JSON array": (b'[{"event_id": "a"', "application/json", 400),
        "invalid JSON line": (b'{"event_id": "a"}\n{oops', "application/x-ndjson", 400),
        "not UTF-8": (b'[{"event_id": "\xff"}]', "application/json", 400),
        "an object, not an array": (b'{"event_id": "a"}x', "application/json", 400),
        "wrong content type": (json.dumps(batch("a")).encode(), "text/html", 415),
        "form encoded": (b"event_id=a", "application/x-www-form-urlencoded", 415),
        "no event_id": (json.dumps([{"event_type": "demo_request"}]).encode(), "application/json", 422),
        "not an object": (b"[1, 2, 3]", "application/json", 422),
        "empty array": (b"[]", "application/json", 400),
        "empty body": (b"", "application/json", 400),
    }
    for name, (body, ctype, status) in cases.items():
        response = post(service, body, ctype)
        assert response.status_code == status, (name, response.text)
        assert response.json()["error"], name
    # one bad object refuses the batch (so a fixed retry is not half-duplicated) and says where
    mixed = json.dumps(batch("ok1") + [{"email": "x@example.jp"}] + batch("ok2")).encode()
    response = post(service, mixed)
    assert response.status_code == 422 and "item 1" in response.json()["error"]
    # oversized: refused at once from Content-Length, and also when streamed without one
    big = json.dumps(batch(*(f"big{i}" for i in range(10_000)))).encode()
    assert len(big) > 1_000_000
    assert post(service, big).status_code == 413

    def chunks():
        yield big[:600_000]
        yield big[600_000:]

    streamed = httpx.post(
        f"{service.url}/events",
        content=chunks(),
        headers={"Content-Type": "application/json", "X-Leadflow-Signature": intake_signature(INTAKE_SECRET, big)},
    )
    assert streamed.status_code == 413
    assert inbox_rows(service) == []
    assert all(e["status"] < 500 for e in service.access_log())


def test_unknown_event_types_are_accepted_for_the_dags_quarantine(start_service):
    service = start_service()
    body = json.dumps(batch("u1", event_type="teleport") + [{"event_id": 7, "event_type": "page_view"}]).encode()
    assert post(service, body).status_code == 202
    assert [(key, p["event_type"]) for _, key, p in inbox_rows(service)] == [("7", "page_view"), ("u1", "teleport")]


def test_ten_thousand_events_in_one_post(service):
    body = json.dumps(batch(*(f"k{i:05d}" for i in range(10_000)))).encode()
    assert len(body) < 5 * 1024 * 1024  # the default limit
    response = post(service, body, timeout=60)
    assert response.status_code == 202 and response.json() == {"accepted": 10_000}
    assert len(inbox_rows(service)) == 10_000


def test_a_client_over_its_rate_gets_429_with_retry_after(start_service):
    service = start_service(intake={"rate_limit_per_minute": 1, "rate_limit_burst": 3})
    body = json.dumps(batch("r1")).encode()
    statuses = [post(service, body).status_code for _ in range(3)]
    assert statuses == [202, 202, 202]
    refused = post(service, body)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert httpx.get(f"{service.url}/healthz").status_code == 200  # the health check is never limited


def test_kill_9_mid_stream_loses_nothing_that_was_answered_2xx(start_service, inbox_backend, tmp_path):
    service = start_service(inbox_backend)
    acknowledged: list[str] = []
    enough = threading.Event()
    stop = threading.Event()
    lock = threading.Lock()

    def client(worker: int) -> None:
        with httpx.Client(timeout=10) as http:
            n = 0
            while not stop.is_set():
                ids = [f"w{worker}-{n}-{j}" for j in range(50)]
                body = json.dumps(batch(*ids)).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Leadflow-Signature": intake_signature(INTAKE_SECRET, body),
                }
                try:
                    response = http.post(f"{service.url}/events", content=body, headers=headers)
                except httpx.TransportError:
                    return  # the service died under this request: never answered, may or may not be kept
                if response.status_code == 202:
                    with lock:
                        acknowledged.extend(ids)
                        if len(acknowledged) >= 40 * 50:
                            enough.set()
                n += 1

    workers = [threading.Thread(target=client, args=(w,)) for w in range(3)]
    for w in workers:
        w.start()
    assert enough.wait(120), "the clients got too few answers"
    service.kill()  # SIGKILL while requests are in flight
    stop.set()
    for w in workers:
        w.join()
    restarted = start_service(inbox_backend, home=service.home)
    kept = {key for _, key, _ in inbox_rows(restarted)}
    lost = [k for k in acknowledged if k not in kept]
    assert not lost, f"{len(lost)} acknowledged events lost, e.g. {lost[:3]}"
    assert len(acknowledged) >= 2000


@pytest.mark.postgres
def test_on_a_new_postgresql_warehouse_the_service_creates_its_inbox_table(start_service, postgres_db):
    service = start_service(postgres_db)  # no DAG has run: ops.inbox does not exist yet
    assert post(service, json.dumps(batch("n1")).encode()).status_code == 202
    assert [key for _, key, _ in inbox_rows(service)] == ["n1"]


def test_each_durable_write_is_announced_on_redis_without_personal_data(start_service):
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=30)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(NOTIFY_CHANNEL)  # before the write: Pub/Sub keeps nothing for late subscribers
    service = start_service(env={"LEADFLOW_REDIS_URL": "redis://127.0.0.1:6379/0"})
    ids = [f"redis-{i}" for i in range(7)]
    assert post(service, json.dumps(batch(*ids)).encode()).status_code == 202
    seen = []
    deadline = time.monotonic() + 30
    while True:  # other processes may publish on the channel too: wait for ours
        assert time.monotonic() < deadline, f"no notification on {NOTIFY_CHANNEL} (saw {seen})"
        message = pubsub.get_message(timeout=1)  # None also after the subscribe confirmation
        if message is None:
            continue
        body = json.loads(message["data"])
        seen.append(body)
        if body.get("kind") == "web_event" and body.get("count") == 7:
            break
    assert set(body) <= {"kind", "count", "at"}
    assert "@" not in message["data"].decode()
    pubsub.close()
    client.close()


def test_redis_down_costs_only_the_notification(start_service):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    service = start_service(env={"LEADFLOW_REDIS_URL": closed})
    for n in range(3):
        assert post(service, json.dumps(batch(f"nr{n}")).encode()).status_code == 202
    service.stop()  # waits for the notifier
    assert [key for _, key, _ in inbox_rows(service)] == ["nr0", "nr1", "nr2"]
    log = service.stderr()
    assert log.count("could not notify leadflow.intake on Redis") == 1  # once per outage, not per request
    assert "Traceback" not in log


def test_without_a_link_secret_a_sendgrid_setup_refuses_to_start(tmp_path):
    from tests.intake.serve_process import Service, write_config

    service = Service(tmp_path, write_config(tmp_path, mailer={"kind": "sendgrid"}), env={"LEADFLOW_LINK_SECRET": ""})
    with pytest.raises(RuntimeError, match="LEADFLOW_LINK_SECRET must be set"):
        service.start()
    assert "Traceback" not in service.stderr()


@pytest.mark.postgres
def test_a_dropped_database_connection_costs_one_retry_not_the_service(start_service, postgres_db, postgres_server):
    import psycopg

    service = start_service(postgres_db)
    assert post(service, json.dumps(batch("before")).encode()).status_code == 202
    # PostgreSQL restarted, failover...: the service's connection is gone (waited for, up to 10 s)
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(
            "select pg_terminate_backend(pid, 10000) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()",
            (postgres_db.rsplit("/", 1)[1],),
        )
    first = post(service, json.dumps(batch("during")).encode())
    assert first.status_code == 503  # with Retry-After: the sender retries; nothing half-kept
    assert first.headers["retry-after"]
    assert post(service, json.dumps(batch("during")).encode()).status_code == 202  # the retry: a new connection
    assert post(service, json.dumps(batch("after")).encode()).status_code == 202
    assert [key for _, key, _ in inbox_rows(service)] == ["after", "before", "during"]
    assert "Traceback" not in service.stderr()
