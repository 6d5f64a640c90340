-- every raw row of batch :b of {{ table }} with the validated columns, in any order (no sort of the batch)
select
    {{ columns | join(', ') }}
from {{ table }}
where _batch_id = :b
