-- ops.validation_results with :value (an erased person's address, CRM id, lead id or send key, as GX
-- samples of unexpected values may quote it) replaced by :erased in its summary and results.
update ops.validation_results
set
    summary = replace(summary, :value, :erased),
    results = replace(results, :value, :erased)
where strpos(summary, :value) > 0 or strpos(results, :value) > 0
returning 1
