-- record an operator approval of a larger run for one check and batch (replacing an earlier one).
delete from ops.validation_approvals
where batch_id = :batch_id and check_name = :check_name;

insert into ops.validation_approvals (batch_id, check_name, approved_up_to, approved_by, approved_at)
values (:batch_id, :check_name, :approved_up_to, :approved_by, :approved_at);
