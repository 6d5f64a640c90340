-- one as-of date of a validation view (relation: ops.score_check or ops.transition_check), for GX on DuckDB.
select *  -- noqa: AM04
from {{ relation }}
where as_of_date = cast(:as_of_date as date)
