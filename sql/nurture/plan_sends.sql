-- The emails due on :as_of_date: at most one marketing email per lead (triggers first, then the
-- next track step) within the frequency cap, plus one alert to the owner of each newly hot lead.
-- An alert of a missed run stays due for :lookback_days days. A trigger held back by the cap stays
-- due for :max_defer_days days; then it is written to the ledger once as `expired`, with its due date
-- (within :expiry_grace_days after it passes that age, so a skipped night still records it).
with

eligible as (
    select l.*
    from core.leads as l
    where
        {{ m.consented('l') }}
        and l.crm_status not in ('customer', 'disqualified')
        and l.crm_status not in (select crm_status from nurture.exit_statuses)
),

ledger as (
    select * from nurture.email_sends
),

marketing_history as (
    select
        lead_id,
        count(case when as_of_date > {{ m.add_days('cast(:as_of_date as date)', -7) }} then 1 end) as sent_7d,
        max(as_of_date) as last_sent_on
    from ledger
    where
        kind = 'marketing'
        and status not in ('cancelled', 'failed', 'expired')
        and as_of_date <= cast(:as_of_date as date)
    group by lead_id
),

open_enrollments as (
    select e.*
    from nurture.enrollments as e
    inner join eligible as l on e.lead_id = l.lead_id
    where e.exited_on is null
),

progress as (
    select
        e.lead_id,
        e.track,
        e.enrolled_on,
        coalesce(max(g.step), 0) as last_step,
        coalesce(max(g.as_of_date), e.enrolled_on) as last_on
    from open_enrollments as e
    left join ledger as g
        on e.lead_id = g.lead_id and e.track = g.track and e.enrolled_on = g.enrolled_on
    group by e.lead_id, e.track, e.enrolled_on
),

track_due as (
    select
        p.lead_id,
        p.track,
        ts.step,
        p.enrolled_on,
        ts.template,
        2 as priority,
        p.lead_id || ':' || p.track || ':' || cast(p.enrolled_on as varchar) || ':' || cast(ts.step as varchar) as send_key
    from progress as p
    inner join nurture.track_steps as ts on p.track = ts.track and ts.step = p.last_step + 1
    where {{ m.days_between('p.last_on', 'cast(:as_of_date as date)') }} >= ts.delay_days
),

trigger_candidates as (
    -- every download follow-up due or recently expired: one per lead and download day
    select distinct
        ev.lead_id,
        'download_followup' as track,
        1 as step,
        cast(null as date) as enrolled_on,
        :trigger_template as template,
        1 as priority,
        ev.lead_id || ':download_followup:' || cast(ev.event_date as varchar) as send_key,
        ev.event_date as due_on
    from core.events as ev
    inner join eligible as l on ev.lead_id = l.lead_id
    inner join lifecycle.lead_stages as s on ev.lead_id = s.lead_id
    where
        ev.event_date <= cast(:as_of_date as date)
        and ev.event_date > {{ m.add_days('cast(:as_of_date as date)', '-(:max_defer_days + :expiry_grace_days)') }}
        and ev.event_type in (select t.event_type from nurture.trigger_events as t where t.trigger_name = 'download_followup')
        and s.stage in ('cold', 'warm', 'recycled')
),

trigger_due as (
    select
        lead_id,
        track,
        step,
        enrolled_on,
        template,
        priority,
        send_key
    from trigger_candidates
    where {{ m.days_between('due_on', 'cast(:as_of_date as date)') }} < :max_defer_days
),

last_visits as (
    select
        ev.lead_id,
        max(ev.event_date) as last_visit_on
    from core.events as ev
    where ev.event_date <= cast(:as_of_date as date)
    group by ev.lead_id
),

inactivity_candidates as (
    -- one reminder per silent spell (its key is the last visit), for leads in the cold or warm track
    select
        v.lead_id,
        'inactivity_reminder' as track,
        1 as step,
        cast(null as date) as enrolled_on,
        :inactivity_template as template,
        3 as priority,
        v.lead_id || ':inactivity_reminder:' || cast(v.last_visit_on as varchar) as send_key,
        {{ m.add_days('v.last_visit_on', ':inactive_days') }} as due_on
    from last_visits as v
    inner join eligible as l on v.lead_id = l.lead_id
    inner join lifecycle.lead_stages as s on v.lead_id = s.lead_id
    where
        :inactive_days > 0
        and s.stage in ('cold', 'warm')
        and {{ m.days_between('v.last_visit_on', 'cast(:as_of_date as date)') }} >= :inactive_days
        and {{ m.days_between('v.last_visit_on', 'cast(:as_of_date as date)') }}
        < :inactive_days + :max_defer_days + :expiry_grace_days
),

inactivity_due as (
    select
        lead_id,
        track,
        step,
        enrolled_on,
        template,
        priority,
        send_key
    from inactivity_candidates
    where {{ m.days_between('due_on', 'cast(:as_of_date as date)') }} < :max_defer_days
),

marketing_due as (
    select
        c.*,
        row_number() over (partition by c.lead_id order by c.priority, c.send_key) as pick
    from (
        select * from trigger_due
        union all
        select * from track_due
        union all
        select * from inactivity_due
    ) as c
    left join marketing_history as h on c.lead_id = h.lead_id
    where
        not exists (select 1 from ledger as g where g.send_key = c.send_key)
        and coalesce(h.sent_7d, 0) < :max_per_7_days
        and (
            h.last_sent_on is null
            or {{ m.days_between('h.last_sent_on', 'cast(:as_of_date as date)') }} >= :min_days_apart
        )
),

owner_alerts as (
    select
        s.lead_id,
        'owner_alert' as track,
        1 as step,
        cast(null as date) as enrolled_on,
        :alert_template as template,
        s.lead_id || ':owner_alert:' || cast(s.entered_on as varchar) as send_key
    from lifecycle.lead_stages as s
    inner join core.leads as l on s.lead_id = l.lead_id
    where
        s.stage = 'hot'
        and s.entered_on <= cast(:as_of_date as date)
        and s.entered_on > {{ m.add_days('cast(:as_of_date as date)', '-:lookback_days') }}
        and l.owner_email is not null
        -- leadflow_intake already alerted the owner when this lead raised its hand (an owner alert the intake
        -- planned within the lookback up to the day the lead entered hot): that hand-raise is not alerted twice
        and not exists (
            select 1
            from ledger as g
            where
                g.lead_id = s.lead_id
                and g.track = 'owner_alert'
                and g.send_key like '%:owner_alert:intake:%'
                and g.status not in ('cancelled', 'failed')
                and g.as_of_date <= s.entered_on
                and g.as_of_date > {{ m.add_days('s.entered_on', '-:lookback_days') }}
        )
),

final as (
    select
        d.send_key,
        d.lead_id,
        d.track,
        d.step,
        d.enrolled_on,
        d.template,
        'marketing' as kind,
        l.locale,
        l.email as to_email,
        l.timezone,
        l.country
    from marketing_due as d
    inner join eligible as l on d.lead_id = l.lead_id
    where d.pick = 1
    union all
    select
        a.send_key,
        a.lead_id,
        a.track,
        a.step,
        a.enrolled_on,
        a.template,
        'internal' as kind,
        l.locale,
        l.owner_email as to_email,
        :timezone as timezone,
        null as country
    from owner_alerts as a
    inner join core.leads as l on a.lead_id = l.lead_id
    where not exists (select 1 from ledger as g where g.send_key = a.send_key)
),

expired_triggers as (
    -- triggers past :max_defer_days that never made it into the ledger while their lead was getting
    -- marketing email during their due days or the cap week before (held back by the cap or another
    -- trigger); one never due in any run (history older than the first nurture run) is no expiry
    select
        c.send_key,
        c.lead_id,
        c.track,
        c.step,
        c.enrolled_on,
        c.template,
        'marketing' as kind,
        l.locale,
        l.email as to_email,
        l.timezone,
        l.country,
        c.due_on
    from (
        select * from trigger_candidates
        union all
        select * from inactivity_candidates
    ) as c
    inner join eligible as l on c.lead_id = l.lead_id
    where
        {{ m.days_between('c.due_on', 'cast(:as_of_date as date)') }} >= :max_defer_days
        and not exists (select 1 from ledger as g where g.send_key = c.send_key)
        and exists (
            select 1
            from ledger as g
            where
                g.lead_id = c.lead_id
                and g.kind = 'marketing'
                and g.as_of_date > {{ m.add_days('c.due_on', -7) }}
                and g.as_of_date < {{ m.add_days('c.due_on', ':max_defer_days') }}
        )
),

ledger_rows as (
    select
        f.*,
        'planned' as status,
        cast(null as date) as due_on
    from final as f
    union all
    select
        x.send_key,
        x.lead_id,
        x.track,
        x.step,
        x.enrolled_on,
        x.template,
        x.kind,
        x.locale,
        x.to_email,
        x.timezone,
        x.country,
        'expired' as status,
        x.due_on
    from expired_triggers as x
)

select * from ledger_rows
order by send_key;
