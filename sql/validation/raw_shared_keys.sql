-- the raw rows of batch :b of {{ table }} whose {{ key }} (trimmed of :strip) another row of the batch
-- shares, in file order; only the key column is grouped (a CTE of every column would be materialised
-- on DuckDB)
with

shared as (
    select trim(both :strip from {{ key }}) as _key
    from {{ table }}
    where _batch_id = :b and trim(both :strip from {{ key }}) <> ''
    group by _key
    having count(*) > 1
),

final as (
    select
        {{ columns | join(', ') }}
    from {{ table }}
    where _batch_id = :b and trim(both :strip from {{ key }}) in (select _key from shared)
)

select * from final
order by _file, _row
