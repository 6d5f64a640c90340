-- Email performance per template, step and locale: one row per marketing (template, step, locale) planned
-- from :start_date to :as_of, with the ledger's counts (planned, deferred past their night, sent, bounced,
-- failed, cancelled) and the sends SendGrid reported delivered, opened by a person, opened by a machine
-- (Apple Mail Privacy Protection), clicked, bounced, unsubscribed and reported as spam; spam and bounce rates.
with

sends as (
    select
        send_key,
        template,
        step,
        locale,
        status,
        coalesce(cast(send_at as date) > as_of_date, false) as deferred
    from nurture.email_sends
    where kind = 'marketing' and as_of_date between cast(:start_date as date) and cast(:as_of as date)
),

events as (
    select distinct
        case
            when {{ m.json_text('payload', 'event') }} = 'open'
                and lower(coalesce({{ m.json_text('payload', 'sg_machine_open') }}, 'false')) = 'true'
                then 'machine_open'
            else {{ m.json_text('payload', 'event') }}
        end as event,
        {{ m.json_text('payload', 'send_key') }} as send_key
    from ops.inbox
    where kind = 'sendgrid_event'
),

flagged as (
    select
        s.template,
        s.step,
        s.locale,
        s.status,
        s.deferred,
        max(case when e.event = 'delivered' then 1 else 0 end) as delivered,
        max(case when e.event = 'open' then 1 else 0 end) as opened,
        max(case when e.event = 'machine_open' then 1 else 0 end) as machine_opened,
        max(case when e.event = 'click' then 1 else 0 end) as clicked,
        max(case when e.event = 'bounce' then 1 else 0 end) as bounce_event,
        max(case when e.event in ('unsubscribe', 'group_unsubscribe') then 1 else 0 end) as unsubscribed,
        max(case when e.event = 'spamreport' then 1 else 0 end) as spam_reported
    from sends as s
    left join events as e on s.send_key = e.send_key
    group by s.send_key, s.template, s.step, s.locale, s.status, s.deferred
),

final as (
    select
        template,
        step,
        locale,
        count(*) as planned,
        sum(case when deferred then 1 else 0 end) as deferred,
        sum(case when status = 'sent' then 1 else 0 end) as sent,
        sum(case when status = 'bounced' or bounce_event = 1 then 1 else 0 end) as bounced,
        sum(case when status = 'failed' then 1 else 0 end) as failed,
        sum(case when status in ('cancelled', 'expired') then 1 else 0 end) as cancelled,
        sum(delivered) as delivered,
        sum(opened) as opened,
        sum(machine_opened) as machine_opened,
        sum(clicked) as clicked,
        sum(unsubscribed) as unsubscribed,
        sum(spam_reported) as spam_reports,
        cast(sum(spam_reported) as double precision) / nullif(sum(delivered), 0) as spam_rate,
        cast(sum(case when status = 'bounced' or bounce_event = 1 then 1 else 0 end) as double precision)
        / nullif(sum(case when status in ('sent', 'bounced') then 1 else 0 end), 0) as bounce_rate
    from flagged
    group by template, step, locale
)

select * from final
order by template, step, locale
