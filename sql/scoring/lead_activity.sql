-- scoring.lead_activity: one row per lead with an event on or before :as_of_date loaded by that night: the
-- day of its latest event (docs/adr/0015). Carried when the running state of the day before was kept on
-- the same keyed batches (scoring.rule_state_runs): the day before's row, tonight's batch and the events
-- of earlier batches dated today (a maximum, so carried and computed agree exactly). Otherwise, and
-- always with `full`, computed from every keyed event. The same two dates as scoring.rule_state are kept.
-- With `leads` (the intraday step, docs/adr/0019) only the leads of scoring.intraday_leads.
{% set as_of = 'cast(:as_of_date as date)' -%}
{% set day_before = m.add_days(as_of, -1) -%}
{% set only_leads = leads is defined and leads -%}
{% set lead_filter %}{% if only_leads %}
        and {{ m.intraday_lead('lead_key') }}{% endif %}{% endset -%}
delete from scoring.lead_activity
where
    {%- if only_leads %}
    {{ m.intraday_lead('lead_key') }}
    and (as_of_date >= {{ as_of }} or as_of_date < {{ day_before }});
    {%- else %}
    as_of_date >= {{ as_of }}
    or as_of_date < {{ day_before }};
    {%- endif %}

insert into scoring.lead_activity
with

carries as (
    {%- if full is defined and full %}
    select false as carried
    {%- else %}
    select exists (
        select 1
        from scoring.rule_state_runs
        where
            as_of_date = {{ day_before }}
            and batches = {{ m.keyed_batches_upto(day_before) }}
    ) as carried
    {%- endif %}
),

computed as (
    select
        lead_key,
        max(event_date) as last_activity_date
    from scoring.keyed_events
    where
        event_date <= {{ as_of }}
        and batch_date <= {{ as_of }}
        and not (select carried from carries){{ lead_filter }}
    group by lead_key
),

changes as (
    select
        lead_key,
        last_activity_date
    from scoring.lead_activity
    where
        as_of_date = {{ day_before }}
        and (select carried from carries){{ lead_filter }}
    union all
    -- tonight's batch
    select
        lead_key,
        event_date
    from scoring.keyed_events
    where
        batch_date = {{ as_of }}
        and event_date <= {{ as_of }}
        and (select carried from carries){{ lead_filter }}
    union all
    -- events of earlier batches dated today (held back as early, or loaded ahead of their day)
    select
        lead_key,
        event_date
    from scoring.keyed_events
    where
        event_date = {{ as_of }}
        and batch_date < {{ as_of }}
        and (select carried from carries){{ lead_filter }}
),

carried as (
    select
        lead_key,
        max(last_activity_date) as last_activity_date
    from changes
    group by lead_key
),

final as (
    select {{ as_of }} as as_of_date, lead_key, last_activity_date from computed
    union all
    select {{ as_of }}, lead_key, last_activity_date from carried
)

select * from final;

{% if not (leads is defined and leads) %}{{ m.analyze("scoring.lead_activity") }};{% endif %}
