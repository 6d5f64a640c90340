-- Claim planned sends (:keys, a list) for delivery, in one statement; the keys returned are claimed.
-- A key is refused (not returned) when it is no longer planned, or when it is marketing and its lead
-- has unsubscribed, bounced, been suppressed or opted out.
update nurture.email_sends
set
    status = 'claimed',
    claimed_at = :now
where
    {{ m.in_text_list('send_key', ':keys') }}
    and status = 'planned'
    and (
        kind <> 'marketing'
        or exists (
            select 1
            from core.leads as l
            where
                l.lead_id = nurture.email_sends.lead_id
                and l.email = nurture.email_sends.to_email
                and {{ m.consented('l') }}
        )
    )
returning send_key;
