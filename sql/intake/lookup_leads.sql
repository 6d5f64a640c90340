-- The leads the records of one intake batch name: by lead id (:lead_ids), CRM id (:crm_ids) or address (:emails).
select
    l.lead_id,
    l.crm_id,
    l.email,
    l.owner_email
from core.leads as l
where
    {{ m.in_text_list('l.lead_id', ':lead_ids') }}
    or {{ m.in_text_list('l.crm_id', ':crm_ids') }}
    or {{ m.in_text_list('l.email', ':emails') }}
