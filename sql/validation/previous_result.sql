-- the latest successful outcome of validation :validation before batch :batch_id (its summary JSON).
select
    batch_id,
    summary
from ops.validation_results
where validation = :validation and batch_id < :batch_id and success
order by batch_id desc
limit 1
