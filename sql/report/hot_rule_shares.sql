-- Which rules carry the hot leads: one row per scoring rule with points among the leads hot on :as_of,
-- its points summed over them, how many hot leads it scored, and its share of their positive points.
with

{{ m.stage_on('night', 'cast(:as_of as date)') }},

hot as (
    select lead_id from stage_on_night where stage = 'hot'
),

factors as (
    select
        f.rule_id,
        f.lead_id,
        f.points
    from scoring.score_factors as f
    inner join hot as h on f.lead_id = h.lead_id
    where f.as_of_date = cast(:as_of as date) and f.points > 0
),

labels as (
    select rule_id, label_ja, label_en from scoring.fit_rules
    union all
    select rule_id, label_ja, label_en from scoring.engagement_rules
),

grouped as (
    select
        rule_id,
        sum(points) as points,
        count(distinct lead_id) as leads
    from factors
    group by rule_id
),

final as (
    select
        g.rule_id,
        coalesce(l.label_ja, g.rule_id) as label_ja,
        coalesce(l.label_en, g.rule_id) as label_en,
        g.points,
        g.leads,
        g.points / nullif(sum(g.points) over (), 0) as share
    from grouped as g
    left join labels as l on g.rule_id = l.rule_id
)

select * from final
order by points desc, rule_id asc
