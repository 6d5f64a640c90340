-- scoring.keyed_event_batches: batch :batch_id of core.events gained events, so the next scoring keys it again
-- (pending_batches.sql lists every batch of core.events not listed here).
delete from scoring.keyed_event_batches where _batch_id = :batch_id
