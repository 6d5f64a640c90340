{#- Dialect macros: the only place DuckDB and PostgreSQL differ. Imported as `m` in every model. -#}

{# whole days from date a to date b #}
{% macro days_between(a, b) -%}
{%- if dialect == 'duckdb' %}date_diff('day', {{ a }}, {{ b }}){% else %}({{ b }} - {{ a }}){% endif -%}
{%- endmacro %}

{# the calendar date of timestamptz ts in time zone tz (a bind or column) #}
{% macro local_date(ts, tz) -%}
cast(({{ ts }} at time zone {{ tz }}) as date)
{%- endmacro %}

{# d plus n days, as a date #}
{% macro add_days(d, n) -%}
{%- if dialect == 'duckdb' %}cast({{ d }} + to_days(cast({{ n }} as integer)) as date){% else %}cast({{ d }} + cast({{ n }} as integer) as date){% endif -%}
{%- endmacro %}

{# case-insensitive regular-expression match #}
{% macro regex_match(value, pattern) -%}
{%- if dialect == 'duckdb' %}regexp_matches({{ value }}, {{ pattern }}, 'i'){% else %}({{ value }} ~* {{ pattern }}){% endif -%}
{%- endmacro %}

{# a stable 16-hex-digit id from text (same on both backends) #}
{% macro hash_id(value) -%}
substr(md5({{ value }}), 1, 16)
{%- endmacro %}

{# true when value is a valid JSON object text; returns the json value (null when empty) #}
{% macro json_text(value, key) -%}
{%- if dialect == 'duckdb' %}json_extract_string({{ value }}, '$.{{ key }}'){% else %}(cast({{ value }} as jsonb) ->> '{{ key }}'){% endif -%}
{%- endmacro %}

{# trimmed text, with empty and placeholder values ('N/A', '-', 'null') as null #}
{% macro clean_text(value) -%}
case when lower(trim({{ value }})) in ('', 'n/a', 'na', '-', 'null', 'none') then null else trim({{ value }}) end
{%- endmacro %}

{# a CRM boolean ('true', 'yes', '1' / 'false', 'no', '0'), else null #}
{% macro to_bool(value) -%}
case
    when lower(trim({{ value }})) in ('true', 'yes', 'y', '1') then true
    when lower(trim({{ value }})) in ('false', 'no', 'n', '0') then false
end
{%- endmacro %}

{# x rounded to 2 decimals, identically on both (DuckDB's bare numeric has only 3 decimals) #}
{% macro round2(x) -%}
round(cast({{ x }} as decimal(18, 6)), 2)
{%- endmacro %}

{# x rounded to a whole number, halves away from zero on both (PostgreSQL rounds a double's halves to even) #}
{% macro round0(x) -%}
round(cast({{ x }} as decimal(18, 6)))
{%- endmacro %}

{# a number as text, the same on both (a double 15 is '15.0' on DuckDB and '15' on PostgreSQL) #}
{% macro number_text(x) -%}
cast(cast({{ x }} as decimal(18, 6)) as varchar)
{%- endmacro %}

{# a join key standing for a missing text value (a control character no cleaned value contains) #}
{% macro null_key() -%}
chr(1)
{%- endmacro %}

{# texts a and b are equal or both missing, as a join condition both backends hash: DuckDB hashes
   `is not distinct from` (coalescing copied both texts of every row: keying 46.5M events, the triple
   join took 3.5 s of CPU that way, 1.5 s this way); PostgreSQL cannot hash it, so it joins the texts
   with a stand-in for a missing one #}
{% macro same_text(a, b) -%}
{%- if dialect == 'duckdb' %}{{ a }} is not distinct from {{ b }}{% else %}coalesce({{ a }}, {{ null_key() }}) = coalesce({{ b }}, {{ null_key() }}){% endif -%}
{%- endmacro %}

{# fresh planner statistics for a table just rewritten in bulk (PostgreSQL only; DuckDB keeps its own) #}
{% macro analyze(table) -%}
{%- if dialect == 'postgres' %}analyze {{ table }}{% endif -%}
{%- endmacro %}

{# the distinct values of an indexed column as rows of that column; PostgreSQL walks the index one
   value at a time (a scan of every row otherwise), DuckDB scans the one column #}
{% macro distinct_values(table, column) -%}
{%- if dialect == 'postgres' -%}
select walked as {{ column }}
from (
    with recursive walk (walked) as (
        select min({{ column }}) from {{ table }}
        union all
        select (select min(t.{{ column }}) from {{ table }} as t where t.{{ column }} > walk.walked)
        from walk
        where walk.walked is not null
    )

    select walked from walk
) as found
where walked is not null
{%- else -%}
select distinct {{ column }} from {{ table }}
{%- endif -%}
{%- endmacro %}

{# the batch ids of `table` not listed in `done` yet (a table of _batch_id): what a rollup or a merge
   still has to take in #}
{% macro pending_batches(table, done) -%}
{{ distinct_values(table, '_batch_id') }}
except
select _batch_id from {{ done }}
{%- endmacro %}

{# the list bind `bind` as an array of texts #}
{% macro text_list(bind) -%}
cast({{ bind }} as {% if dialect == 'postgres' %}text[]{% else %}varchar[]{% endif %})
{%- endmacro %}

{# the dates given as texts in the list bind `bind` contain the date `column` #}
{% macro in_date_list(column, bind) -%}
{%- if dialect == 'postgres' %}{{ column }} = any(cast({{ bind }} as date[])){% else %}{{ column }} in (select unnest(cast({{ bind }} as date[]))){% endif -%}
{%- endmacro %}

{# an order-independent checksum of a group's rows over the texts or dates `columns` (a list of
   expressions; a missing value stands apart from every text), as a bigint: the sum of one 64-bit hash
   per row. Not the same number on both backends, nor promised across engine versions: it is compared
   only with what the same warehouse computed, and a changed hash makes the rows look changed #}
{% macro rows_checksum(columns) -%}
{%- if dialect == 'duckdb' -%}
cast(sum(hash({{ columns | join(', ') }})) % 9223372036854775807 as bigint)
{%- else -%}
cast(sum(hashtextextended(concat_ws(chr(31){% for c in columns %}, coalesce(cast({{ c }} as text), {{ null_key() }}){% endfor %}), 0)) % 9223372036854775807 as bigint)
{%- endif -%}
{%- endmacro %}

{# the checksum of a batch's events over what keying reads from them (keyed_event_batches.sql stores it,
   pending_batches.sql compares it): the columns `e` (an alias, with its dot) names #}
{% macro keying_checksum(e) -%}
{{ rows_checksum([e ~ 'lead_id', e ~ 'event_date', e ~ 'event_type', e ~ 'url', e ~ 'asset']) }}
{%- endmacro %}

{# `column` is one of the texts of the list bind `bind`; PostgreSQL plans with the values themselves
   (an index scan for one small batch), DuckDB hashes the list once #}
{% macro in_text_list(column, bind) -%}
{%- if dialect == 'postgres' %}{{ column }} = any({{ text_list(bind) }}){% else %}{{ column }} in (select unnest({{ text_list(bind) }})){% endif -%}
{%- endmacro %}

{# the texts of a group joined with `sep`, in the order of `key` (unique within the group). DuckDB sorts
   each group's small list after grouping: its ordered `string_agg(... order by ...)` cost 0.42 of the
   0.72 s of lead_scores.sql at 100k leads; PostgreSQL's ordered aggregate sorts the input once #}
{% macro ordered_join(text, key, sep) -%}
{%- if dialect == 'duckdb' -%}
array_to_string(list_transform(list_sort(list(struct_pack(k := {{ key }}, t := {{ text }}))), lambda x: x.t), {{ sep }})
{%- else -%}
string_agg({{ text }}, {{ sep }} order by {{ key }})
{%- endif -%}
{%- endmacro %}

{# consent to marketing email, written once: lead alias `l` opted in, its address is not suppressed and
   was not erased (privacy.suppressions; takes the binds of leadflow.privacy.keys.privacy_binds). The
   address alone: staging keeps out a CRM id erased, and one hash per lead costs ~1 s per million #}
{% macro consented(l) -%}
({{ l }}.email_opt_in and {{ l }}.email is not null and {{ l }}.email not in (select x.email from nurture.suppressions as x)
    and not {{ erased(l ~ '.email') }})
{%- endmacro %}

{# HMAC-SHA256 (64 hex digits) of text `value` under the privacy key, the same as leadflow.privacy.keys.keyed_hash:
   binds :privacy_inner and :privacy_outer are the key XOR-ed with HMAC's pads (the secret is never SQL text) #}
{% macro hmac_hex(value) -%}
{%- if dialect == 'duckdb' %}sha256(:privacy_outer || unhex(sha256(:privacy_inner || encode({{ value }})))){% else %}encode(sha256(:privacy_outer || sha256(:privacy_inner || convert_to({{ value }}, 'UTF8'))), 'hex'){% endif -%}
{%- endmacro %}

{# the person with cleaned address `email` (or CRM id `crm_id`, when given) was erased (their keyed hash
   is in privacy.suppressions); false for missing values; no hash is computed while the list is empty #}
{% macro erased(email, crm_id=none) -%}
coalesce(exists (select 1 from privacy.suppressions) and (
    {{ hmac_hex(email) }} in (select ps.key_hash from privacy.suppressions as ps where ps.kind = 'email')
    {%- if crm_id %}
    or {{ hmac_hex(crm_id) }} in (select ps.key_hash from privacy.suppressions as ps where ps.kind = 'crm_id')
    {%- endif %}
), false)
{%- endmacro %}

{# an index PostgreSQL needs to find a few rows (of those matching `where`, when given; storage parameters `options`); DuckDB's zone maps do without (an ART index is held in memory) #}
{% macro postgres_index(name, table, columns, unique=false, using=none, where=none, options=none) -%}
{%- if dialect == 'postgres' %}create {% if unique %}unique {% endif %}index if not exists {{ name }} on {{ table }}{% if using %} using {{ using }}{% endif %} ({{ columns }}){% if options %} with ({{ options }}){% endif %}{% if where %} where {{ where }}{% endif %};{% endif -%}
{%- endmacro %}

{# lead `column` (its `lead_key`, or its `lead_id`) is one the intraday step rescores (scoring.intraday_leads, docs/adr/0019) #}
{% macro intraday_lead(column, key='lead_key') -%}
{{ column }} in (select il.{{ key }} from scoring.intraday_leads as il)
{%- endmacro %}

{# rows inserted in this order on PostgreSQL (so a block-range index on the column is selective); DuckDB
   keeps its own order #}
{% macro postgres_order_by(columns) -%}
{%- if dialect == 'postgres' %}order by {{ columns }}{% endif -%}
{%- endmacro %}

{# PostgreSQL: summarise the block ranges appended since a BRIN index last was (unsummarised ranges are
   read by every query), at once rather than at the next vacuum; nothing where it does not exist yet #}
{% macro brin_summarize(index) -%}
{%- if dialect == 'postgres' %}select brin_summarize_new_values(to_regclass('{{ index }}')) where to_regclass('{{ index }}') is not null;{% endif -%}
{%- endmacro %}

{# a constraint dropped from PostgreSQL warehouses made before it went (DuckDB's never had it, and cannot drop one) #}
{% macro drop_constraint(table, constraint) -%}
{%- if dialect == 'postgres' %}alter table {{ table }} drop constraint if exists {{ constraint }};{% endif -%}
{%- endmacro %}

{# a primary key kept on PostgreSQL only (on DuckDB its ART index would sit in memory) #}
{% macro postgres_primary_key() -%}
{%- if dialect == 'postgres' %} primary key{% endif -%}
{%- endmacro %}

{# an optimisation fence ending a subquery: PostgreSQL plans what is above it on the rows it yields (offset 0 skips no row: sqlfluff AM09 does not apply) #}
{% macro fence() -%}
{%- if dialect == 'postgres' %}offset 0  -- noqa: AM09{% endif -%}
{%- endmacro %}

{# a CTE PostgreSQL reads again each time (rescanning beats a copy of the join); DuckDB materializes it #}
{% macro reread() -%}
{%- if dialect == 'postgres' %}not materialized {% endif -%}
{%- endmacro %}

{# the rest of the transaction joins by hashing on PostgreSQL (its estimates can pick a nested loop over every lead) #}
{% macro hash_joins_only() -%}
{%- if dialect == 'postgres' %}set local enable_nestloop = off;{% endif -%}
{%- endmacro %}

{# skip an event core.events already holds (DuckDB: core.events has no key there; see keep_known_events). The
   ids of `batch_ids` that core.events holds are found first (a semi-join hashing the batch's ids and scanning
   core.events' ids), then left out: a plain anti-join hashed every event ever staged, 8.5 s of the 10 s
   of a night's events at 1M leads x 50. `event_id` is never null here (validation quarantines rows without). #}
{% macro skip_known_events(event_id, batch_ids) -%}
{%- if dialect == 'duckdb' %}and {{ event_id }} not in (
            select e.event_id from core.events as e
            where e.event_id in (select b.event_id from {{ batch_ids }} as b)
        ){% endif -%}
{%- endmacro %}

{# PostgreSQL keeps an event core.events already holds through its primary key (an anti-join read every event ever staged: 4 s of 7 s at 4.7M) #}
{% macro keep_known_events() -%}
{%- if dialect == 'postgres' %}on conflict (event_id) do nothing{% endif -%}
{%- endmacro %}

{# CTEs ending in `typed`: the first copy (in file order) of each event_id of the CTE `batch`, as `columns`.
   DuckDB runs DISTINCT ON over every column as an ordered "first row" aggregate that keeps each row's
   texts in memory and cannot spill (48M events did not fit its cap): it counts rows per id (a grouping
   that spills) and sorts only the ids the batch repeats. PostgreSQL sorts for DISTINCT ON and spills
   the sort to disk: one pass over the batch (counting ids reads it four times: 1.8x as long for 1.9M) #}
{% macro first_event_copies(columns) -%}
{%- if dialect == 'duckdb' -%}
repeated as (
    select trim(event_id) as event_id
    from batch
    group by trim(event_id)
    having count(*) > 1
),

first_copies as (
    -- where the first copy of each repeated id is, in file order
    select distinct on (trim(b.event_id))
        b._file,
        b._row
    from batch as b
    inner join repeated as r on trim(b.event_id) = r.event_id
    order by trim(b.event_id), b._file, b._row
),

kept as (
    -- every row of an id the batch holds once, and the first copy of each repeated one
    select b.*
    from batch as b
    where not exists (select 1 from repeated as r where r.event_id = trim(b.event_id))
    union all
    select b.*
    from batch as b
    inner join first_copies as f on b._file = f._file and b._row = f._row
),

typed as (
    select
        {{ columns }}
    from kept
),
{%- else -%}
typed as (
    -- the first copy of each event_id in file order
    select distinct on (trim(event_id))
        {{ columns }}
    from batch
    order by trim(event_id), _file, _row
),
{%- endif -%}
{%- endmacro %}

{# a table whose rows need not survive a crash: PostgreSQL skips its write-ahead log; DuckDB has no such table #}
{% macro unlogged() -%}
{%- if dialect == 'postgres' %}unlogged {% endif -%}
{%- endmacro %}

{# the report's lower / upper bound of a 95 % Wilson score interval for k successes in n trials (null when n = 0) #}
{% macro wilson_low(k, n) -%}
case when {{ n }} > 0 then ((cast({{ k }} as double precision) / {{ n }}) + 1.9208 / {{ n }} - 1.96 * sqrt((cast({{ k }} as double precision) / {{ n }}) * (1 - cast({{ k }} as double precision) / {{ n }}) / {{ n }} + 0.9604 / ({{ n }} * {{ n }}))) / (1 + 3.8416 / {{ n }}) end
{%- endmacro %}

{% macro wilson_high(k, n) -%}
case when {{ n }} > 0 then ((cast({{ k }} as double precision) / {{ n }}) + 1.9208 / {{ n }} + 1.96 * sqrt((cast({{ k }} as double precision) / {{ n }}) * (1 - cast({{ k }} as double precision) / {{ n }}) / {{ n }} + 0.9604 / ({{ n }} * {{ n }}))) / (1 + 3.8416 / {{ n }}) end
{%- endmacro %}

{# a calibration group's rate, Wilson interval and lift over the base rate: from `grouped` (alias g: the group
   column `key`, leads, converted) and the one-row `base` (base_rate) #}
{% macro conversion_rates(g, key) -%}
select
        {{ g }}.{{ key }},
        {{ g }}.leads,
        {{ g }}.converted,
        cast({{ g }}.converted as double precision) / {{ g }}.leads as rate,
        {{ wilson_low(g ~ '.converted', g ~ '.leads') }} as ci_low,
        {{ wilson_high(g ~ '.converted', g ~ '.leads') }} as ci_high,
        (cast({{ g }}.converted as double precision) / {{ g }}.leads) / nullif(b.base_rate, 0) as lift
    from grouped as {{ g }}
    cross join base as b
{%- endmacro %}

{# the median of x in a group (an ordered-set aggregate both backends take) #}
{% macro median(x) -%}
percentile_cont(0.5) within group (order by {{ x }})
{%- endmacro %}

{# the 90th percentile of x in a group #}
{% macro p90(x) -%}
percentile_cont(0.9) within group (order by {{ x }})
{%- endmacro %}

{# the Monday starting the week of date d #}
{% macro week_start(d) -%}
cast(date_trunc('week', {{ d }}) as date)
{%- endmacro %}

{# minutes from timestamptz a to timestamptz b #}
{% macro minutes_between(a, b) -%}
{%- if dialect == 'duckdb' %}(epoch({{ b }}) - epoch({{ a }})) / 60.0{% else %}(extract(epoch from {{ b }}) - extract(epoch from {{ a }})) / 60.0{% endif -%}
{%- endmacro %}

{# the report's CTE `stage_on_<name>`: each lead's stage as of the night `night` (an expression): the target of
   its latest transition on or before that night #}
{% macro stage_on(name, night) -%}
stage_on_{{ name }} as (
    select
        ranked.lead_id,
        ranked.to_stage as stage
    from (
        select
            t.lead_id,
            t.to_stage,
            row_number() over (partition by t.lead_id order by t.as_of_date desc) as latest
        from lifecycle.stage_transitions as t
        where t.as_of_date <= {{ night }}
    ) as ranked
    where ranked.latest = 1
)
{%- endmacro %}

{# the report's calibration cohort as CTEs ending in `cohort`: the leads scored on the latest night on or before
   :cohort_date (and before :as_of), not yet sales_qualified, customer or disqualified then, with their score,
   grade and whether they reached sales_qualified or customer by :as_of (converted 1/0) #}
{% macro calibration_cohort() -%}
cohort_night as (
    select max(as_of_date) as night
    from scoring.lead_scores
    where as_of_date <= cast(:cohort_date as date) and as_of_date < cast(:as_of as date)
),

{{ stage_on('then', '(select night from cohort_night)') }},

reached as (
    select distinct t.lead_id
    from lifecycle.stage_transitions as t
    where
        t.to_stage in ('sales_qualified', 'customer')
        and t.as_of_date > (select night from cohort_night)
        and t.as_of_date <= cast(:as_of as date)
),

cohort as (
    select
        s.lead_id,
        s.total_score,
        s.fit_grade,
        case when r.lead_id is null then 0 else 1 end as converted
    from scoring.lead_scores as s
    inner join cohort_night as c on s.as_of_date = c.night
    -- a lead with a stage that night existed then (a past night rescored reads today's core.leads)
    inner join stage_on_then as st on s.lead_id = st.lead_id
    left join reached as r on s.lead_id = r.lead_id
    where st.stage not in ('sales_qualified', 'customer', 'disqualified')
)
{%- endmacro %}

{# the as-of date a nightly batch id names ('YYYY-MM-DD'), else the local date of timestamptz ts in :timezone #}
{% macro batch_date(batch_id, ts) -%}
case when {{ regex_match(batch_id, "'^[0-9]{4}-[0-9]{2}-[0-9]{2}$'") }} then cast({{ batch_id }} as date) else {{ local_date(ts, ':timezone') }} end
{%- endmacro %}

{# the first day of the running-state epoch holding date d for a rule with half-life `half_life` and key
   `rule_key` (docs/adr/0015): a rule's state is carried from night to night within an epoch and computed
   from its days at each new one. Epochs are 28 days (shorter for a half-life under 28/32 days, so a term
   grows at most 2^32-fold), each rule's shifted by 5 days a key, so the nights that compute a rule from
   its days are spread over the epoch rather than all on one #}
{% macro state_anchor(d, half_life, rule_key) -%}
{%- set epoch = 'greatest(1, least(28, cast(floor(32 * ' ~ half_life ~ ') as integer)))' -%}
{{ add_days(d, '-((' ~ days_between("cast('2000-01-03' as date)", d) ~ ' + 5 * ' ~ rule_key ~ ') % ' ~ epoch ~ ')') }}
{%- endmacro %}

{# one day's term of a running state: `counted` events of day `day` at `points` each, grown by half-lives
   from the epoch's anchor to that day, as fixed-point decimal, so sums of terms are exact and any
   order of adding and subtracting them gives the same state #}
{% macro state_term(counted, day, anchor, points, half_life) -%}
cast({{ counted }} * {{ points }} * power(cast(2 as double precision), cast({{ days_between(anchor, day) }} as double precision) / {{ half_life }}) as decimal(38, 12))
{%- endmacro %}

{# a running state's points on date d: its weighted sum decayed from the anchor to d #}
{% macro state_points(weighted, anchor, d, half_life) -%}
(cast({{ weighted }} as double precision) * power(cast(0.5 as double precision), cast({{ days_between(anchor, d) }} as double precision) / {{ half_life }}))
{%- endmacro %}

{# what the running state of a date was built on: the batches keyed up to date d (count, events, checksums) #}
{% macro keyed_batches_upto(d) -%}
(
    select
        cast(count(*) as varchar) || '/' || cast(coalesce(sum(events), 0) as varchar)
        || '/' || cast(coalesce(sum(checksum), 0) as varchar) || '/' || cast(count(checksum) as varchar)
    from scoring.keyed_event_batches
    where _batch_id <= cast({{ d }} as varchar)
)
{%- endmacro %}
