-- scoring.intraday_leads: the leads the intraday step rescores for :as_of_date (docs/adr/0019), with their
-- scoring keys: the leads of the intake's events :events (in the batches :batches of core.events), and
-- the leads rescored intraday on that date whose stage a rerun of an earlier night has since put back
-- (lifecycle.lead_stages as of an earlier date), so their intraday stage and fields are written again.
delete from scoring.intraday_leads;

insert into scoring.intraday_leads
with

touched as (
    select e.lead_id
    from core.events as e
    where
        {{ m.in_text_list('e._batch_id', ':batches') }}
        and {{ m.in_text_list('e.event_id', ':events') }}
),

displaced as (
    select s.lead_id
    from scoring.intraday_scores as s
    left join lifecycle.lead_stages as st on s.lead_id = st.lead_id
    where
        s.as_of_date = cast(:as_of_date as date)
        and (st.as_of_date is null or st.as_of_date < s.as_of_date)
),

final as (
    -- leads core.leads no longer holds (erased since) are left out
    select
        k.lead_key,
        l.lead_id
    from core.leads as l
    inner join scoring.lead_keys as k on l.lead_id = k.lead_id
    where
        l.lead_id in (select t.lead_id from touched as t)
        or l.lead_id in (select d.lead_id from displaced as d)
)

select * from final;

{{ m.analyze("scoring.intraday_leads") }};
