-- The send keys of the ledger rows of the people being erased (their .eml files in the file outbox).
select send_key
from nurture.email_sends
where {{ m.in_text_list('lead_id', ':lead_ids') }} or {{ m.in_text_list('to_email', ':emails') }}
