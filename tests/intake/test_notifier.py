"""The Redis notification after each durable write: coalesced, bounded, and harmless when Redis is down."""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest
import redis

from leadflow.intake.app import Notifier
from leadflow.intake.inbox import NOTIFY_CHANNEL


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_writes_waiting_for_one_message_join_it_and_nothing_is_counted_twice():
    try:
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(NOTIFY_CHANNEL)
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    kind = f"test-{uuid.uuid4().hex}"  # other processes may publish on the channel too
    notifier = Notifier("redis://127.0.0.1:6379/0")
    for _ in range(500):
        notifier.notify(kind, 2)
    notifier.close()
    counts = []
    deadline = time.monotonic() + 30
    while sum(counts) < 1000 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
        if message is not None and json.loads(message["data"])["kind"] == kind:
            counts.append(json.loads(message["data"])["count"])
    assert sum(counts) == 1000  # however the writes were grouped, each is counted once
    pubsub.close()
    client.close()


def test_redis_down_never_builds_a_queue(caplog):
    notifier = Notifier(f"redis://127.0.0.1:{_closed_port()}/0", retry_seconds=60)
    for _ in range(2000):
        notifier.notify("web_event", 1)
        assert len(notifier._pending) <= 1  # one waiting message per kind, never a backlog
    notifier.close()  # returns after at most one attempt per kind, not 2000
    warnings = [r for r in caplog.records if "could not notify" in r.getMessage()]
    assert len(warnings) == 1


def test_an_empty_url_turns_notifications_off():
    notifier = Notifier("")
    notifier.notify("web_event", 1)
    notifier.close()
    assert notifier._client is None
