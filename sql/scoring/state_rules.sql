-- scoring.state_rules: one row per engagement rule, as the running state of :as_of_date reads it
-- (docs/adr/0015): its settings, a fingerprint of everything that decides its state (the cap is applied
-- when the state is read, so it is not in it), the anchor of its epoch, and whether the state of the
-- day before carries (`carried`): kept for that day, for this rule and key, from the same fingerprint,
-- anchor and keyed batches. Otherwise, and always with `full` (the rebuild), rule_state.sql computes the
-- rule's state from its days. The fingerprint reads the same on both backends, so a warehouse copied from
-- one to the other carries its state. Rebuilt with the rules before each scoring run, after rule_keys.sql.
delete from scoring.state_rules;

{% set as_of = 'cast(:as_of_date as date)' -%}
{% set day_before = m.add_days(as_of, -1) -%}

insert into scoring.state_rules
with

rules as (
    select
        k.rule_key,
        r.rule_id,
        r.event_type
        || chr(31) || coalesce(r.url_pattern, {{ m.null_key() }})
        || chr(31) || coalesce(r.asset_pattern, {{ m.null_key() }})
        || chr(31) || {{ m.number_text('r.points') }}
        || chr(31) || {{ m.number_text('r.half_life_days') }}
        || chr(31) || cast(r.window_days as varchar)
        || chr(31) || cast(r.max_per_day as varchar) as fingerprint,
        r.points,
        r.half_life_days,
        r.window_days,
        r.max_per_day,
        {{ m.state_anchor(as_of, 'r.half_life_days', 'k.rule_key') }} as anchor_date
    from scoring.engagement_rules as r
    inner join scoring.rule_keys as k on r.rule_id = k.rule_id
),

previous as (
    select *
    from scoring.rule_state_runs
    where as_of_date = {{ day_before }}
),

final as (
    select
        r.rule_key,
        r.rule_id,
        r.fingerprint,
        r.points,
        r.half_life_days,
        r.window_days,
        r.max_per_day,
        r.anchor_date,
        {% if full is defined and full -%}
        false
        {%- else -%}
        coalesce(
            p.fingerprint = r.fingerprint
            and p.anchor_date = r.anchor_date
            and p.batches = {{ m.keyed_batches_upto(day_before) }},
            false
        )
        {%- endif %} as carried
    from rules as r
    left join previous as p on r.rule_key = p.rule_key and r.rule_id = p.rule_id
)

select * from final;
