-- nurture.email_sends: what the SendGrid events say became of sends (_intake_outcomes: send_key, status, error).
-- `sent` only settles an `unknown` send (the outcome of the API call was lost); `bounced` and `failed` settle a send
-- we took as sent or unknown. Nothing is ever planned or resent here.
update nurture.email_sends
set
    status = o.status,
    error = o.error,
    finished_at = coalesce(nurture.email_sends.finished_at, :now)
from _intake_outcomes as o
where
    nurture.email_sends.send_key = o.send_key
    and (
        (o.status = 'sent' and nurture.email_sends.status = 'unknown')
        or (o.status in ('bounced', 'failed') and nurture.email_sends.status in ('sent', 'unknown'))
    )
