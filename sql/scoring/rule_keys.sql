-- scoring.rule_keys: every rule (fit, engagement, the score-range clamp) as a small integer in rule-id
-- order; rebuilt with the rules before each scoring run (leadflow.pipeline.score).
delete from scoring.rule_keys;

insert into scoring.rule_keys
with

rules as (
    select rule_id, 'fit' as kind, label_ja, label_en, false as hand_raiser, true as labelled
    from scoring.fit_rules
    union all
    select rule_id, 'engagement', label_ja, label_en, hand_raiser, true
    from scoring.engagement_rules
    union all
    -- the clamp to the score range is a factor too, so a lead's factors always add up to its total
    select 'score_range', 'clamp', null, null, false, false
),

final as (
    select
        cast(row_number() over (order by rule_id) as smallint) as rule_key,
        rule_id,
        kind,
        label_ja,
        label_en,
        hand_raiser,
        labelled
    from rules
)

select * from final;
