-- ops.inbox_events: the events :events rescored by the intraday run at :now, in the transaction that wrote
-- their leads' intraday scores and stages; events of the night :night's batch or earlier were scored by
-- their night and need no intraday run.
update ops.inbox_events
set rescored_at = cast(:now as timestamptz)
where
    rescored_at is null
    and (
        {{ m.in_text_list('event_id', ':events') }}
        or _batch_id <= :night
    )
