-- What happened to claimed sends: the n-th key of :keys gets the n-th of :statuses, :message_ids and
-- :errors (lists of equal length; a missing message id or error is null), all finished at :now.
{% set texts = 'text[]' if dialect == 'postgres' else 'varchar[]' -%}
update nurture.email_sends
set
    status = r.status,
    message_id = r.message_id,
    error = r.error,
    finished_at = :now
from (
    select
        unnest(cast(:keys as {{ texts }})) as send_key,
        unnest(cast(:statuses as {{ texts }})) as status,
        unnest(cast(:message_ids as {{ texts }})) as message_id,
        unnest(cast(:errors as {{ texts }})) as error
) as r
where nurture.email_sends.send_key = r.send_key;
