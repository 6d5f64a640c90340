-- nurture.suppressions: the addresses of _intake_suppress (unsubscribes, bounces, blocks, spam reports, group
-- unsubscribes applied by leadflow_intake), each once; a group resubscribe (action resubscribe) removes the
-- group unsubscribe it reverses, and nothing else.
delete from nurture.suppressions
where
    kind = 'group_unsubscribe'
    and email in (select s.email from _intake_suppress as s where s.action = 'resubscribe');

insert into nurture.suppressions (email, kind, source, created_at)
with

wanted as (
    select
        email,
        kind,
        source,
        created_at,
        row_number() over (partition by email order by created_at, kind) as copy_no
    from _intake_suppress
    where action = 'suppress'
),

final as (
    select
        w.email,
        w.kind,
        w.source,
        w.created_at
    from wanted as w
    where
        w.copy_no = 1
        and not exists (select 1 from nurture.suppressions as x where x.email = w.email)
)

select * from final
