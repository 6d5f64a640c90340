-- the files of batch :b of {{ table }}, in loading order
select distinct _file
from {{ table }}
where _batch_id = :b
order by _file
