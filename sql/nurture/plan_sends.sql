-- The emails due on :as_of_date: at most one marketing email per lead (triggers first, then the
-- next track step) within the frequency cap, plus one alert to the owner of each newly hot lead.
-- A trigger held back by the cap (or an alert of a missed run) stays due for :lookback_days days.
with

eligible as (
    select l.*
    from core.leads as l
    where
        l.email_opt_in
        and l.email is not null
        and l.crm_status not in ('customer', 'disqualified')
        and l.crm_status not in (select crm_status from nurture.exit_statuses)
        and l.email not in (select email from nurture.suppressions)
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
        and status not in ('cancelled', 'failed')
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
        on g.lead_id = e.lead_id and g.track = e.track and g.enrolled_on = e.enrolled_on
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

trigger_due as (
    select distinct
        ev.lead_id,
        'download_followup' as track,
        1 as step,
        cast(null as date) as enrolled_on,
        :trigger_template as template,
        1 as priority,
        ev.lead_id || ':download_followup:' || cast(ev.event_date as varchar) as send_key
    from core.events as ev
    inner join eligible as l on ev.lead_id = l.lead_id
    inner join lifecycle.lead_stages as s on ev.lead_id = s.lead_id
    where
        ev.event_date <= cast(:as_of_date as date)
        and ev.event_date > {{ m.add_days('cast(:as_of_date as date)', '-:lookback_days') }}
        and ev.event_type in (select t.event_type from nurture.trigger_events as t where t.trigger_name = 'download_followup')
        and s.stage in ('cold', 'warm', 'recycled')
),

last_visits as (
    select
        ev.lead_id,
        max(ev.event_date) as last_visit_on
    from core.events as ev
    where ev.event_date <= cast(:as_of_date as date)
    group by ev.lead_id
),

inactivity_due as (
    -- one reminder per silent spell (its key is the last visit), for leads in the cold or warm track
    select
        v.lead_id,
        'inactivity_reminder' as track,
        1 as step,
        cast(null as date) as enrolled_on,
        :inactivity_template as template,
        3 as priority,
        v.lead_id || ':inactivity_reminder:' || cast(v.last_visit_on as varchar) as send_key
    from last_visits as v
    inner join eligible as l on v.lead_id = l.lead_id
    inner join lifecycle.lead_stages as s on v.lead_id = s.lead_id
    where
        :inactive_days > 0
        and s.stage in ('cold', 'warm')
        and {{ m.days_between('v.last_visit_on', 'cast(:as_of_date as date)') }} >= :inactive_days
        and {{ m.days_between('v.last_visit_on', 'cast(:as_of_date as date)') }} < :inactive_days + :lookback_days
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
)

select * from final
order by send_key;
