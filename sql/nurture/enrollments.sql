-- nurture.enrollments: leave tracks whose stage changed, whose consent is gone (unsubscribe, bounce,
-- spam report, opt-out) or whose CRM status says sales is talking to the lead; then enrol.
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
    exit_reason = coalesce(
        (
            select 'suppressed: ' || x.kind
            from core.leads as l
            inner join nurture.suppressions as x on l.email = x.email
            where l.lead_id = nurture.enrollments.lead_id
        ),
        (
            select 'opted out'
            from core.leads as l
            where l.lead_id = nurture.enrollments.lead_id and (not l.email_opt_in or l.email is null)
        ),
        (
            select 'crm status ' || l.crm_status
            from core.leads as l
            inner join nurture.exit_statuses as es on l.crm_status = es.crm_status
            where l.lead_id = nurture.enrollments.lead_id
        )
    )
where
    exited_on is null
    and exists (
        select 1
        from core.leads as l
        where
            l.lead_id = nurture.enrollments.lead_id
            and (
                not {{ m.consented('l') }}
                or l.crm_status in (select crm_status from nurture.exit_statuses)
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
        and {{ m.consented('l') }}
        and l.crm_status not in (select crm_status from nurture.exit_statuses)
        and l.crm_status not in ('customer', 'disqualified')
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
        where
            e.lead_id = c.lead_id
            and e.track = c.track
            and (e.exited_on is null or e.enrolled_on = cast(:as_of_date as date))
    )
)

select * from final;
