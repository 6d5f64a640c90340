-- scoring.rule_state: the running state of :as_of_date, one row per lead and engagement rule with events
-- counted in the rule's window (docs/adr/0015). `counted` is the events counted (at most max_per_day a
-- day) and `weighted` the sum of each day's term: its counted events times the rule's points, grown by
-- half-lives from the epoch's anchor (m.state_term), as exact fixed-point. day_factors.sql decays it to
-- the date and caps it.
-- A rule whose state of the day before carries (state_rules.sql) takes that state and adds, for each
-- day whose count or place in the window changed since, the day's term now less its term then: the
-- new day, the day leaving the window, and the days tonight's batch brought events for (late events).
-- Every other rule is computed from all its days in the window. Both give the same decimal, exactly.
-- Only batches loaded by this date's night count, so a rerun of a past date sees what its night saw.
-- The states of this date and the day before are kept: a rerun of the latest night carries from the
-- day before; a rerun of an earlier one computes its rules from their days, and later dates go.
-- With `leads` (the intraday step, docs/adr/0019, in a transaction it rolls back) only the leads of
-- scoring.intraday_leads are read and written.
{% set as_of = 'cast(:as_of_date as date)' -%}
{% set day_before = m.add_days(as_of, -1) -%}
{% set only_leads = leads is defined and leads -%}
delete from scoring.rule_state
where
    {%- if only_leads %}
    {{ m.intraday_lead('lead_key') }}
    and (as_of_date >= {{ as_of }} or as_of_date < {{ day_before }});
    {%- else %}
    as_of_date >= {{ as_of }}
    or as_of_date < {{ day_before }};
    {%- endif %}

insert into scoring.rule_state
with

rules as (
    select * from scoring.state_rules
),

day_counts as (
    -- rules computed from their days: events per lead, rule and day in the window (nearly every group
    -- is one event, so the rule's settings are joined after the grouping, not carried through it)
    select
        e.lead_key,
        r.rule_key,
        e.event_date,
        count(*) as events
    from scoring.keyed_events as e
    inner join scoring.triple_rules as tr on e.triple_id = tr.triple_id
    inner join rules as r on tr.rule_key = r.rule_key
    where
        not r.carried
        -- the first day any computed rule's window reads (computed_from.sql; null: no rule computed)
        and e.event_date >= cast(:computed_from as date)
        and e.event_date <= {{ as_of }}
        and e.batch_date <= {{ as_of }}
        and {{ m.days_between('e.event_date', as_of) }} < r.window_days
        {%- if only_leads %}
        and {{ m.intraday_lead('e.lead_key') }}
        {%- endif %}
    group by e.lead_key, r.rule_key, e.event_date
),

computed as (
    select
        d.lead_key,
        d.rule_key,
        sum(least(d.events, r.max_per_day)) as counted,
        sum({{ m.state_term('least(d.events, r.max_per_day)', 'd.event_date', 'r.anchor_date', 'r.points', 'r.half_life_days') }}) as weighted
    from day_counts as d
    inner join rules as r on d.rule_key = r.rule_key
    group by d.lead_key, d.rule_key
),

changed_counts as (
    -- per lead, carried rule and changed day: events loaded by tonight and by the night before
    select
        e.lead_key,
        r.rule_key,
        e.event_date,
        count(*) as events_now,
        sum(case when e.batch_date < {{ as_of }} then 1 else 0 end) as events_before
    from scoring.keyed_events as e
    inner join scoring.triple_rules as tr on e.triple_id = tr.triple_id
    inner join rules as r on tr.rule_key = r.rule_key
    where
        r.carried
        -- the new day, the days leaving the windows, the days of late events (changed_days.sql)
        and {{ m.in_date_list('e.event_date', ':changed_days') }}
        and e.batch_date <= {{ as_of }}
        {%- if only_leads %}
        and {{ m.intraday_lead('e.lead_key') }}
        {%- endif %}
    group by e.lead_key, r.rule_key, e.event_date
),

changed_terms as (
    -- what each changed day counts for now and counted for the day before (0 outside the window)
    select
        c.lead_key,
        c.rule_key,
        c.event_date,
        case
            when {{ m.days_between('c.event_date', as_of) }} < r.window_days then least(c.events_now, r.max_per_day)
            else 0
        end as counted_now,
        case
            when c.event_date < {{ as_of }} and {{ m.days_between('c.event_date', day_before) }} < r.window_days
                then least(c.events_before, r.max_per_day)
            else 0
        end as counted_before
    from changed_counts as c
    inner join rules as r on c.rule_key = r.rule_key
),

deltas as (
    select
        c.lead_key,
        c.rule_key,
        sum(c.counted_now - c.counted_before) as counted,
        sum(
            {{ m.state_term('c.counted_now', 'c.event_date', 'r.anchor_date', 'r.points', 'r.half_life_days') }}
            - {{ m.state_term('c.counted_before', 'c.event_date', 'r.anchor_date', 'r.points', 'r.half_life_days') }}
        ) as weighted
    from changed_terms as c
    inner join rules as r on c.rule_key = r.rule_key
    group by c.lead_key, c.rule_key
),

previous as (
    select
        s.lead_key,
        s.rule_key,
        s.counted,
        s.weighted
    from scoring.rule_state as s
    inner join rules as r on s.rule_key = r.rule_key
    where
        r.carried
        and s.as_of_date = {{ day_before }}
        {%- if only_leads %}
        and {{ m.intraday_lead('s.lead_key') }}
        {%- endif %}
),

carried as (
    select
        coalesce(p.lead_key, d.lead_key) as lead_key,
        coalesce(p.rule_key, d.rule_key) as rule_key,
        coalesce(p.counted, 0) + coalesce(d.counted, 0) as counted,
        coalesce(p.weighted, 0) + coalesce(d.weighted, 0) as weighted
    from previous as p
    full outer join deltas as d on p.lead_key = d.lead_key and p.rule_key = d.rule_key
),

final as (
    select
        {{ as_of }} as as_of_date,
        lead_key,
        rule_key,
        cast(counted as integer) as counted,
        cast(weighted as decimal(38, 12)) as weighted
    from computed
    union all
    select
        {{ as_of }},
        lead_key,
        rule_key,
        cast(counted as integer),
        cast(weighted as decimal(38, 12))
    from carried
    -- a lead whose days all left the rule's window has no state left (every term of 0 events is 0)
    where counted <> 0
)

select * from final;

{% if not (leads is defined and leads) %}{{ m.analyze("scoring.rule_state") }};{% endif %}
