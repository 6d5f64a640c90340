-- One row per marketing email in the ledger that went or may go out: the frequency cap counts these.
with

ledger as (
    select * from nurture.email_sends
),

final as (
    select
        g.lead_id,
        g.send_at
    from ledger as g
    where
        g.kind = 'marketing'
        and g.status not in ('cancelled', 'failed')
        and g.send_at is not null
)

select * from final
order by lead_id, send_at;
