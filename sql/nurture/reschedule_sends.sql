-- Planned sends moved to the next send window of their lead: the n-th key of :keys gets the n-th time of
-- :send_ats (ISO-8601 texts with their offset; lists of equal length), so the ledger says when each goes.
update nurture.email_sends
set send_at = cast(r.send_at as timestamptz)
from (
    select
        unnest({{ m.text_list(':keys') }}) as send_key,
        unnest({{ m.text_list(':send_ats') }}) as send_at
) as r
where
    nurture.email_sends.send_key = r.send_key
    and nurture.email_sends.status = 'planned';
