-- The batches of core.events that keyed_events.sql keys: every batch with `full` set, else the run's own
-- batch (the as-of date, keyed again on a rerun) and every batch not keyed yet. Read by Python and bound as
-- a list, so PostgreSQL plans each statement over core.events with the batch ids themselves.
{{ m.distinct_values('core.events', '_batch_id') }}
{%- if not (full is defined and full) %}
except
select _batch_id from scoring.keyed_event_batches where _batch_id <> cast(:as_of_date as varchar)
{%- endif %}
