-- lifecycle.stage_transitions: the stage changes decided for :as_of_date (a rerun recomputes that date).
delete from lifecycle.stage_transitions where as_of_date = cast(:as_of_date as date);

insert into lifecycle.stage_transitions
with

rules as (
    select * from lifecycle.settings
),

prior as (
    -- the stage each lead held before this date
    select
        lead_id,
        to_stage as stage,
        as_of_date as entered_on
    from (
        select
            t.*,
            row_number() over (partition by lead_id order by as_of_date desc) as recency
        from lifecycle.stage_transitions as t
        where as_of_date < cast(:as_of_date as date)
    ) as ranked
    where recency = 1
),

state as (
    select
        l.lead_id,
        l.crm_status,
        p.stage as from_stage,
        coalesce(p.stage, 'cold') as base_stage,
        {{ m.days_between('p.entered_on', 'cast(:as_of_date as date)') }} as days_in_stage,
        {{ m.days_between(
            'coalesce(s.last_activity_date, ' ~ m.local_date('l.created_at', ':timezone') ~ ')',
            'cast(:as_of_date as date)'
        ) }} as days_silent,
        s.total_score,
        s.hand_raiser,
        s.rules_version,
        cast(coalesce(l.bant_budget, false) as integer)
        + cast(coalesce(l.bant_authority, false) as integer)
        + cast(coalesce(l.bant_need, false) as integer)
        + cast(coalesce(l.bant_timeline, false) as integer) as bant_count
    from core.leads as l
    inner join scoring.lead_scores as s
        on l.lead_id = s.lead_id and s.as_of_date = cast(:as_of_date as date)
    left join prior as p on l.lead_id = p.lead_id
),

decided as (
    select
        st.*,
        case
            -- terminal stages are never left, not even when the CRM status changes again
            when st.base_stage in ('customer', 'disqualified') then st.base_stage
            when st.crm_status = 'customer' then 'customer'
            when st.crm_status = 'disqualified' then 'disqualified'
            when st.base_stage = 'sales_qualified' then st.base_stage
            when st.base_stage = 'hot' and st.bant_count >= r.bant_required then 'sales_qualified'
            when st.base_stage = 'hot' and st.days_in_stage >= r.hot_sla_days and st.crm_status = 'new'
                then 'recycled'
            when st.base_stage in ('cold', 'warm') and st.days_silent >= r.silence_days then 'recycled'
            when st.base_stage <> 'hot' and (st.hand_raiser or st.total_score >= r.hot_threshold) then 'hot'
            when st.base_stage in ('cold', 'recycled') and st.total_score >= r.warm_threshold then 'warm'
            else st.base_stage
        end as to_stage,
        case
            when st.base_stage in ('customer', 'disqualified') then 'unchanged'
            when st.crm_status in ('customer', 'disqualified') then 'crm_status ' || st.crm_status
            when st.base_stage = 'sales_qualified' then 'unchanged'
            when st.base_stage = 'hot' and st.bant_count >= r.bant_required
                then 'bant_confirmed: ' || cast(st.bant_count as varchar) || ' of 4 BANT items confirmed'
            when st.base_stage = 'hot' and st.days_in_stage >= r.hot_sla_days and st.crm_status = 'new'
                then 'hot_sla_expired: hot for ' || cast(st.days_in_stage as varchar) || ' days, untouched by sales'
            when st.base_stage in ('cold', 'warm') and st.days_silent >= r.silence_days
                then 'silent_churn: no activity for ' || cast(st.days_silent as varchar) || ' days'
            when st.base_stage <> 'hot' and st.hand_raiser then 'hand_raiser: contact, quote or demo request'
            when st.base_stage <> 'hot' and st.total_score >= r.hot_threshold
                then 'score ' || cast(cast(round(st.total_score) as integer) as varchar)
                || ' reached hot threshold ' || cast(cast(r.hot_threshold as integer) as varchar)
            when st.base_stage in ('cold', 'recycled') and st.total_score >= r.warm_threshold
                then 'score ' || cast(cast(round(st.total_score) as integer) as varchar)
                || ' reached warm threshold ' || cast(cast(r.warm_threshold as integer) as varchar)
            else 'new lead'
        end as reason
    from state as st
    cross join rules as r
),

final as (
    select
        lead_id,
        cast(:as_of_date as date) as as_of_date,
        from_stage,
        to_stage,
        reason,
        rules_version
    from decided
    where from_stage is null or from_stage <> to_stage
)

select * from final;
