-- lifecycle.stage_transitions: the stage changes decided for :as_of_date (a rerun recomputes that date).
-- With `leads` (the intraday step, docs/adr/0019): those of the leads of scoring.intraday_leads only,
-- from their intraday scores of the date so far, the reason saying so; the night of the date replaces them.
{% set only_leads = leads is defined and leads -%}
delete from lifecycle.stage_transitions
where
    as_of_date = cast(:as_of_date as date)
    {%- if only_leads %}
    and {{ m.intraday_lead('lead_id', 'lead_id') }}
    {%- endif %};

insert into lifecycle.stage_transitions
with

rules as (
    select * from lifecycle.settings
),

history as (
    select *
    from lifecycle.stage_transitions
    where
        as_of_date < cast(:as_of_date as date)
        {%- if only_leads %}
        and {{ m.intraday_lead('lead_id', 'lead_id') }}
        {%- endif %}
),

prior as (
    -- the stage each lead held before this date
    select
        lead_id,
        to_stage as stage,
        as_of_date as entered_on
    from (
        select
            h.*,
            row_number() over (partition by lead_id order by as_of_date desc) as recency
        from history as h
    ) as ranked
    where recency = 1
),

recycles as (
    -- each lead's latest recycle before this date: only evidence dated after it may move the lead up again
    select
        lead_id,
        max(as_of_date) as recycled_on
    from history
    where to_stage = 'recycled'
    group by lead_id
),

state as (
    select
        l.lead_id,
        l.crm_status,
        p.stage as from_stage,
        coalesce(p.stage, 'cold') as base_stage,
        p.entered_on,
        rc.recycled_on,
        {{ m.days_between('p.entered_on', 'cast(:as_of_date as date)') }} as days_in_stage,
        {{ m.days_between(
            'coalesce(s.last_activity_date, ' ~ m.local_date('l.created_at', ':timezone') ~ ')',
            'cast(:as_of_date as date)'
        ) }} as days_silent,
        s.total_score,
        s.hand_raiser,
        s.last_activity_date,
        s.rules_version,
        cast(coalesce(l.bant_budget, false) as integer)
        + cast(coalesce(l.bant_authority, false) as integer)
        + cast(coalesce(l.bant_need, false) as integer)
        + cast(coalesce(l.bant_timeline, false) as integer) as bant_count
    from core.leads as l
    inner join {% if only_leads %}scoring.intraday_scores{% else %}scoring.lead_scores{% endif %} as s
        on l.lead_id = s.lead_id and s.as_of_date = cast(:as_of_date as date)
    left join prior as p on l.lead_id = p.lead_id
    left join recycles as rc on l.lead_id = rc.lead_id
    {%- if only_leads %}
    where {{ m.intraday_lead('l.lead_id', 'lead_id') }}
    {%- endif %}
),

hand_raise_leads as (
    -- the leads whose hand-raiser requests since a date matter tonight: hot ones at their SLA (a
    -- request since the hot entry restarts the clock), and ones recycled since their last hot entry
    -- (recycled, or warm again) whose hand-raiser flag is set (it counts only for a request after the
    -- recycle)
    select
        st.lead_id,
        k.lead_key,
        case when st.base_stage = 'hot' then st.entered_on else st.recycled_on end as since
    from state as st
    inner join scoring.lead_keys as k on st.lead_id = k.lead_id
    where
        (st.base_stage = 'hot' and st.days_in_stage >= (select r.hot_sla_days from rules as r))
        or (st.recycled_on is not null and st.base_stage in ('recycled', 'warm') and st.hand_raiser)
),

hand_raiser_triples as (
    select tr.triple_id
    from scoring.triple_rules as tr
    inner join scoring.rule_keys as rk on tr.rule_key = rk.rule_key
    where rk.hand_raiser
),

last_hand_raises as (
    -- their latest hand-raiser event after that date (the rules and batches the score counts)
    select
        h.lead_id,
        max(e.event_date) as last_hand_raise_date
    from hand_raise_leads as h
    inner join scoring.keyed_events as e on h.lead_key = e.lead_key
    where
        e.triple_id in (select t.triple_id from hand_raiser_triples as t)
        and e.event_date > h.since
        and e.event_date <= cast(:as_of_date as date)
        and e.batch_date <= cast(:as_of_date as date)
    group by h.lead_id
),

evidence as (
    -- what may move a lead up. A lead never recycled: its hand-raiser flag and score as they are. A
    -- lead recycled before (the latest recycle on recycled_on): only new evidence, an event dated after
    -- recycled_on, so the request or score it was recycled with cannot bring it straight back. The hot
    -- SLA runs from the later of the hot entry and the latest hand-raiser request.
    select
        st.*,
        case
            when st.recycled_on is null then st.hand_raiser
            else st.hand_raiser and h.lead_id is not null
        end as raised_hand,
        st.recycled_on is null or coalesce(st.last_activity_date > st.recycled_on, false) as active,
        case
            when h.lead_id is not null
                then {{ m.days_between('h.last_hand_raise_date', 'cast(:as_of_date as date)') }}
            else st.days_in_stage
        end as days_unqualified
    from state as st
    left join last_hand_raises as h on st.lead_id = h.lead_id
),

decided as (
    select
        ev.*,
        case
            -- terminal stages are never left, not even when the CRM status changes again
            when ev.base_stage in ('customer', 'disqualified') then ev.base_stage
            when ev.crm_status = 'customer' then 'customer'
            when ev.crm_status = 'disqualified' then 'disqualified'
            when ev.base_stage = 'sales_qualified' then ev.base_stage
            when ev.base_stage = 'hot' and ev.bant_count >= r.bant_required then 'sales_qualified'
            -- whatever the CRM status: working or qualified without BANT is not sales-qualified either
            when ev.base_stage = 'hot' and ev.days_unqualified >= r.hot_sla_days then 'recycled'
            when ev.base_stage in ('cold', 'warm') and ev.days_silent >= r.silence_days then 'recycled'
            when ev.base_stage <> 'hot' and ev.raised_hand then 'hot'
            when ev.base_stage <> 'hot' and ev.active and ev.total_score >= r.hot_threshold then 'hot'
            when ev.base_stage in ('cold', 'recycled') and ev.active and ev.total_score >= r.warm_threshold
                then 'warm'
            else ev.base_stage
        end as to_stage,
        case
            when ev.base_stage in ('customer', 'disqualified') then 'unchanged'
            when ev.crm_status in ('customer', 'disqualified') then 'crm_status ' || ev.crm_status
            when ev.base_stage = 'sales_qualified' then 'unchanged'
            when ev.base_stage = 'hot' and ev.bant_count >= r.bant_required
                then 'bant_confirmed: ' || cast(ev.bant_count as varchar) || ' of 4 BANT items confirmed'
            when ev.base_stage = 'hot' and ev.days_unqualified >= r.hot_sla_days
                then 'hot_sla_expired: ' || cast(ev.days_unqualified as varchar)
                || ' days since it went hot or last raised its hand, not sales-qualified (crm_status '
                || ev.crm_status || ')'
            when ev.base_stage in ('cold', 'warm') and ev.days_silent >= r.silence_days
                then 'silent_churn: no activity for ' || cast(ev.days_silent as varchar) || ' days'
            when ev.base_stage <> 'hot' and ev.raised_hand then 'hand_raiser: contact, quote or demo request'
            when ev.base_stage <> 'hot' and ev.active and ev.total_score >= r.hot_threshold
                then 'score ' || cast(cast(round(ev.total_score) as integer) as varchar)
                || ' reached hot threshold ' || cast(cast(r.hot_threshold as integer) as varchar)
            when ev.base_stage in ('cold', 'recycled') and ev.active and ev.total_score >= r.warm_threshold
                then 'score ' || cast(cast(round(ev.total_score) as integer) as varchar)
                || ' reached warm threshold ' || cast(cast(r.warm_threshold as integer) as varchar)
            else 'new lead'
        end as reason
    from evidence as ev
    cross join rules as r
),

final as (
    select
        lead_id,
        cast(:as_of_date as date) as as_of_date,
        from_stage,
        to_stage,
        reason || case
            -- a move up after a recycle names it: its evidence is dated after that day
            when recycled_on is not null and to_stage in ('warm', 'hot')
                then ' (evidence dated after the recycle of ' || cast(recycled_on as varchar) || ')'
            else ''
        end{% if only_leads %} || ' (intraday)'{% endif %} as reason,
        rules_version
    from decided
    where from_stage is null or from_stage <> to_stage
)

select * from final;
