"""The event trigger behind the `leadflow_intake` asset: wakes the DAG when `leadflow serve` publishes on Redis."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from leadflow.intake.inbox import NOTIFY_CHANNEL

REDIS_URL_ENV = "LEADFLOW_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
RECONNECT_SECONDS = 5.0  # Redis down: try again this often (the 5-minute schedule covers the gap)


def redis_url() -> str:
    """The Redis the intake publishes to (the Celery broker by default), from env `LEADFLOW_REDIS_URL`."""
    return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL


class InboxNotifyTrigger(BaseEventTrigger):
    """Fires whenever messages arrive on the Redis pub/sub `channel` (the intake's "something was written").

    The URL is read in the triggerer from `LEADFLOW_REDIS_URL` (never stored in the serialized trigger, as it
    may carry a password). It blocks on the subscription rather than polling, so a run starts within a second
    or two of the publish; while Redis is unreachable it keeps reconnecting instead of failing.
    """

    def __init__(self, channel: str = NOTIFY_CHANNEL) -> None:
        super().__init__()
        self.channel = channel

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("leadflow.intake.watch.InboxNotifyTrigger", {"channel": self.channel})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import redis.asyncio as aioredis
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        while True:
            client = aioredis.from_url(redis_url())
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None or message.get("type") != "message":
                        continue
                    # a burst (one notice per accepted request) wakes the DAG once: drop what is queued
                    while await pubsub.get_message(timeout=0.0) is not None:
                        pass
                    # The trigger keeps running after an event: the triggerer turns each event into an
                    # asset event and keeps iterating. A trigger that returned would be restarted only
                    # when the triggerer next reloads its triggers, missing notices meanwhile (measured:
                    # minutes, so the schedule did the work).
                    yield TriggerEvent({"channel": self.channel})
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.log.warning("Redis at %s unreachable (%s): retrying", _safe(redis_url()), type(exc).__name__)
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                await pubsub.aclose()
                await client.aclose()


def _safe(url: str) -> str:
    """The URL without a password, for logs."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port or ''}{parts.path}"
