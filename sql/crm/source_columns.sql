-- No rows: only the column names of the CRM table `table` (a validated, quoted identifier); `*` is the point.
select * from {{ table }} where 1 = 0  -- noqa: AM04
