-- No rows: only the column names of the CRM table `table` (a validated, quoted identifier).
select * from {{ table }} where 1 = 0
