-- The intake's events the intraday step has not rescored yet (ops.inbox_events, rescored_at null) in a batch
-- after the night :night: events of that night's batch or earlier were scored by their night.
select
    event_id,
    _batch_id
from ops.inbox_events
where
    rescored_at is null
    and _batch_id > :night
order by event_id
