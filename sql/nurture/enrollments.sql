-- nurture.enrollments: leave tracks whose stage no longer holds or whose consent is gone, then enrol.
update nurture.enrollments
set
    exited_on = cast(:as_of_date as date),
    exit_reason = 'stage changed'
where
    exited_on is null
    and not exists (
        select 1
        from lifecycle.lead_stages as s
        where s.lead_id = nurture.enrollments.lead_id and s.stage = nurture.enrollments.track
    );

update nurture.enrollments
set
    exited_on = cast(:as_of_date as date),
    exit_reason = 'unsubscribed, suppressed or opted out'
where
    exited_on is null
    and exists (
        select 1
        from core.leads as l
        where
            l.lead_id = nurture.enrollments.lead_id
            and (
                not l.email_opt_in
                or l.email is null
                or l.email in (select email from nurture.suppressions)
            )
    );

insert into nurture.enrollments (lead_id, track, enrolled_on, exited_on, exit_reason)
with

candidates as (
    select
        s.lead_id,
        s.stage as track
    from lifecycle.lead_stages as s
    inner join core.leads as l on s.lead_id = l.lead_id
    where
        s.stage in (select distinct track from nurture.track_steps)
        and l.email_opt_in
        and l.email is not null
        and l.crm_status not in ('customer', 'disqualified')
        and l.email not in (select email from nurture.suppressions)
),

final as (
    select
        c.lead_id,
        c.track,
        cast(:as_of_date as date) as enrolled_on,
        cast(null as date) as exited_on,
        cast(null as text) as exit_reason
    from candidates as c
    where not exists (
        select 1
        from nurture.enrollments as e
        where e.lead_id = c.lead_id and e.track = c.track and (e.exited_on is null or e.enrolled_on = cast(:as_of_date as date))
    )
)

select * from final;
