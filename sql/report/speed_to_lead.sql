-- Speed to lead per owner: one row per lead owner with the hand-raises (contact, quote, demo requests: the
-- hand-raiser rules' events) from :start_date to :as_of, how many were followed by an owner alert that went
-- out, and the median and 90th-percentile minutes from the hand-raise to that alert.
with

hand_raises as (
    select
        e.event_id,
        e.lead_id,
        e.occurred_at
    from core.events as e
    where
        e.event_type in (select r.event_type from scoring.engagement_rules as r where r.hand_raiser)
        and e.event_date between cast(:start_date as date) and cast(:as_of as date)
),

alerts as (
    select
        lead_id,
        coalesce(finished_at, send_at, planned_at) as alerted_at
    from nurture.email_sends
    where track = 'owner_alert' and status = 'sent'
),

first_alerts as (
    select
        h.event_id,
        h.lead_id,
        h.occurred_at,
        min(a.alerted_at) as alerted_at
    from hand_raises as h
    left join alerts as a on h.lead_id = a.lead_id and h.occurred_at <= a.alerted_at
    group by h.event_id, h.lead_id, h.occurred_at
),

timed as (
    select
        coalesce(l.owner_email, '(no owner)') as owner_email,
        f.alerted_at,
        {{ m.minutes_between('f.occurred_at', 'f.alerted_at') }} as minutes
    from first_alerts as f
    inner join core.leads as l on f.lead_id = l.lead_id
),

final as (
    select
        owner_email,
        count(*) as hand_raises,
        count(alerted_at) as alerted,
        {{ m.median('minutes') }} as median_minutes,
        {{ m.p90('minutes') }} as p90_minutes
    from timed
    group by owner_email
)

select * from final
order by owner_email
