-- Claimed sends (:keys, a list) back to `planned`, so a later run may send them: SendGrid did not
-- accept them (rate limited, nothing sent), or the run stopped before their calls were made.
update nurture.email_sends
set
    status = 'planned',
    claimed_at = null,
    error = :error
where
    {{ m.in_text_list('send_key', ':keys') }}
    and status = 'claimed';
