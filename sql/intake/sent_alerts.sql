-- The hand-raise alerts of :keys that are now sent, with what a Slack line shows (company, CRM id, owner).
select
    s.send_key,
    s.as_of_date,
    s.to_email as owner_email,
    l.crm_id,
    l.company
from nurture.email_sends as s
inner join core.leads as l on s.lead_id = l.lead_id
where
    {{ m.in_text_list('s.send_key', ':keys') }}
    and s.status = 'sent'
order by s.send_key
