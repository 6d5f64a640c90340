-- Quarantined rows over time: one row per night (the batch's as-of date; the local date in :timezone of
-- an intake batch) from :start_date to :as_of, source and kind of reason (the reason with its quoted values,
-- row numbers, timestamps and parenthesised details left out), with the rows set aside.
with

rows_set_aside as (
    select
        {{ m.batch_date('batch_id', 'quarantined_at') }} as day,
        source,
        reason
    from ops.quarantine
),

unquoted as (
    select
        day,
        source,
        regexp_replace(regexp_replace(reason, '\([^)]*\)', '', 'g'), '''[^'']*''', '…', 'g') as reason
    from rows_set_aside
),

kinds as (
    select
        day,
        source,
        trim(
            regexp_replace(
                regexp_replace(reason, 'row [0-9]+ of [^ ;]+', 'row … of …', 'g'),
                '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.+-]+', '…', 'g'
            )
        ) as reason
    from unquoted
),

final as (
    select
        day,
        source,
        reason,
        count(*) as rows_quarantined
    from kinds
    where day between cast(:start_date as date) and cast(:as_of as date)
    group by day, source, reason
)

select * from final
order by day, source, reason
