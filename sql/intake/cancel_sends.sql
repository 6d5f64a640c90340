-- Cancel the marketing sends not yet delivered (planned, or claimed by a sender that has not marked them) of
-- every lead and address suppressed in _intake_suppress. A send whose API call is in flight is marked with its
-- real outcome when the call returns (mark_sends.sql), so the ledger never claims a sent email was cancelled.
update nurture.email_sends
set
    status = 'cancelled',
    error = 'consent withdrawn before sending (' || :reason || ')',
    finished_at = :now
where
    status in ('planned', 'claimed')
    and kind = 'marketing'
    and (
        to_email in (select s.email from _intake_suppress as s where s.action = 'suppress')
        or lead_id in (select s.lead_id from _intake_suppress as s where s.action = 'suppress' and s.lead_id is not null)
    )
returning send_key
