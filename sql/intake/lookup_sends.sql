-- The ledger rows the SendGrid events of one intake batch name through their `send_key` custom arg (:keys).
select
    s.send_key,
    s.lead_id,
    s.to_email,
    s.kind,
    s.status
from nurture.email_sends as s
where {{ m.in_text_list('s.send_key', ':keys') }}
