"""The Redis watcher behind leadflow_intake's asset: a real Redis publish fires it; Redis down does not kill it."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from leadflow.intake import watch
from leadflow.intake.watch import InboxNotifyTrigger

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable")
    return client


async def _fire(trigger: InboxNotifyTrigger, client, before_publish=None):
    """Run the trigger until it listens on its channel, publish once, return what it yields."""
    events = trigger.run()
    first = asyncio.ensure_future(events.__anext__())
    if before_publish is not None:
        await before_publish()
    for _ in range(2000):  # until the trigger's subscription is in place (a condition, not a timing)
        if dict(client.pubsub_numsub(trigger.channel)).get(trigger.channel.encode(), 0):
            break
        await asyncio.sleep(0.005)
    client.publish(trigger.channel, "1")
    event = await asyncio.wait_for(first, timeout=30)
    await events.aclose()
    return event


def test_a_publish_on_the_channel_fires_the_trigger(monkeypatch):
    client = _redis_or_skip()
    monkeypatch.setenv("LEADFLOW_REDIS_URL", REDIS_URL)
    trigger = InboxNotifyTrigger(channel=f"leadflow.intake.test-{uuid.uuid4().hex[:8]}")
    event = asyncio.run(_fire(trigger, client))
    assert event.payload == {"channel": trigger.channel}


def test_redis_down_keeps_the_watcher_retrying_until_it_is_back(monkeypatch):
    client = _redis_or_skip()
    monkeypatch.setattr(watch, "RECONNECT_SECONDS", 0.01)
    monkeypatch.setenv("LEADFLOW_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    trigger = InboxNotifyTrigger(channel=f"leadflow.intake.test-{uuid.uuid4().hex[:8]}")

    async def redis_comes_back():
        for _ in range(3):  # a few failed connections, none of them fatal
            await asyncio.sleep(0.05)
        monkeypatch.setenv("LEADFLOW_REDIS_URL", REDIS_URL)

    event = asyncio.run(_fire(trigger, client, redis_comes_back))
    assert event.payload == {"channel": trigger.channel}


def test_the_watcher_keeps_listening_after_it_fired(monkeypatch):
    """The triggerer iterates a watcher's events: it must fire again on the next notice, not stop."""
    client = _redis_or_skip()
    monkeypatch.setenv("LEADFLOW_REDIS_URL", REDIS_URL)
    trigger = InboxNotifyTrigger(channel=f"leadflow.intake.test-{uuid.uuid4().hex[:8]}")

    async def two_events():
        events = trigger.run()
        fired = []
        for _ in range(2):
            pending = asyncio.ensure_future(events.__anext__())
            for _ in range(2000):  # until the subscription is in place (a condition, not a timing)
                if dict(client.pubsub_numsub(trigger.channel)).get(trigger.channel.encode(), 0):
                    break
                await asyncio.sleep(0.005)
            client.publish(trigger.channel, "1")
            client.publish(trigger.channel, "2")  # a burst: coalesced into one event
            fired.append(await asyncio.wait_for(pending, timeout=30))
        await events.aclose()
        return fired

    assert [e.payload for e in asyncio.run(two_events())] == [{"channel": trigger.channel}] * 2
