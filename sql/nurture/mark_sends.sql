-- What happened to claimed sends: the n-th key of :keys gets the n-th of :statuses, :message_ids and
-- :errors (lists of equal length; a missing message id or error is null), all finished at :now.
update nurture.email_sends
set
    status = r.status,
    message_id = r.message_id,
    error = r.error,
    finished_at = :now
from (
    select
        unnest({{ m.text_list(':keys') }}) as send_key,
        unnest({{ m.text_list(':statuses') }}) as status,
        unnest({{ m.text_list(':message_ids') }}) as message_id,
        unnest({{ m.text_list(':errors') }}) as error
) as r
where nurture.email_sends.send_key = r.send_key;
