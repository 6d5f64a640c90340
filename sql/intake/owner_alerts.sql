-- nurture.email_sends: one owner alert per lead per hand-raise (_intake_alerts: send_key, lead_id), planned to
-- go out at once (send_at null) to the owner of the lead; a key already in the ledger (an earlier run) adds nothing.
insert into nurture.email_sends (
    send_key, lead_id, as_of_date, track, step, enrolled_on, template, kind, locale, to_email, status, send_at,
    planned_at
)
with

final as (
    select
        a.send_key,
        a.lead_id,
        cast(:as_of_date as date) as as_of_date,
        'owner_alert' as track,
        1 as step,
        cast(null as date) as enrolled_on,
        :alert_template as template,
        'internal' as kind,
        l.locale,
        l.owner_email as to_email,
        'planned' as status,
        cast(null as timestamptz) as send_at,
        cast(:now as timestamptz) as planned_at
    from _intake_alerts as a
    inner join core.leads as l on a.lead_id = l.lead_id
    where
        l.owner_email is not null
        and not exists (select 1 from nurture.email_sends as g where g.send_key = a.send_key)
)

select * from final
