-- ops.inbox_events: the events of _intake_events that batch :batch_id of core.events now holds, so the nightly
-- staging of that batch keeps them.
insert into ops.inbox_events (event_id, kind, dedupe_key, _batch_id)
select
    t.event_id,
    t.kind,
    t.dedupe_key,
    :batch_id as _batch_id
from _intake_events as t
where
    not exists (select 1 from ops.inbox_events as i where i.event_id = t.event_id)
    and exists (select 1 from core.events as e where e.event_id = t.event_id and e._batch_id = :batch_id)
