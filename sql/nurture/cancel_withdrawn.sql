-- Cancel planned marketing sends whose lead withdrew consent after planning (unsubscribe, bounce,
-- spam report, opt-out or a changed address): they are never sent and the cap does not count them.
update nurture.email_sends
set
    status = 'cancelled',
    error = 'consent withdrawn before sending',
    finished_at = :now
where
    status = 'planned'
    and kind = 'marketing'
    and not exists (
        select 1
        from core.leads as l
        where
            l.lead_id = nurture.email_sends.lead_id
            and l.email = nurture.email_sends.to_email
            and {{ m.consented('l') }}
    )
returning send_key;
