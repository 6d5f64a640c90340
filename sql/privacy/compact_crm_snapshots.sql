-- raw.crm_leads: the CRM snapshots of batches before :cutoff_batch (older than the rerun horizon,
-- privacy.retention.raw_days) compacted to what staging can still need from them: for each lead, the
-- one valid row that wins among those batches by stg_leads.sql's own order (newest updated_at, then the
-- latest batch, file and row). A rebuild of core.leads as of any later night picks the same records;
-- the rest (the same lead night after night, quarantined rows, rows without a CRM id) go.
-- The latest reconciliation before the cutoff stays whole with the batches after it: a rebuild as of a
-- night that can still be rerun judges deleted leads against it (staging/deleted_leads.sql, ADR 0018).
{% set bound -%}
(
    select coalesce(max(e.batch_id), :cutoff_batch)
    from ops.crm_extracts as e
    where e.full_snapshot and e.batch_id <= :cutoff_batch
)
{%- endset %}
delete from raw.crm_leads
where
    _batch_id < {{ bound }}
    and not exists (
        select 1
        from (
            select
                r._file,
                r._row
            from (
                select
                    c._file,
                    c._row,
                    row_number() over (
                        partition by {{ m.clean_text('c.crm_id') }}
                        order by
                            cast({{ m.clean_text('c.updated_at') }} as timestamptz) desc nulls last,
                            c._batch_id desc,
                            c._file desc,
                            c._row desc
                    ) as recency
                from raw.crm_leads as c
                where
                    c._batch_id < {{ bound | indent(20) }}
                    and {{ m.clean_text('c.crm_id') }} is not null
                    and not exists (
                        select 1
                        from ops.quarantine as q
                        where q.source = 'crm' and q._file = c._file and q._row = c._row
                    )
            ) as r
            where r.recency = 1
        ) as kept
        where kept._file = raw.crm_leads._file and kept._row = raw.crm_leads._row
    )
returning 1
