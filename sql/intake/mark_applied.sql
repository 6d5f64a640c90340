-- ops.inbox: the records of _intake_done applied by run :run (their effects are in the same transaction),
-- with what became of each (applied, quarantined, ignored: and why).
update ops.inbox
set
    applied_at = :now,
    apply_run = :run,
    outcome = d.outcome
from _intake_done as d
where
    ops.inbox.kind = d.kind
    and ops.inbox.dedupe_key = d.dedupe_key
    and ops.inbox.applied_at is null
