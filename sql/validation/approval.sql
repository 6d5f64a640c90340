-- the largest value an operator approved for check :check_name of batch :batch_id (null when none).
select max(approved_up_to) as approved_up_to
from ops.validation_approvals
where batch_id = :batch_id and check_name = :check_name
