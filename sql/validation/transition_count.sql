-- the number of stage changes decided for :as_of_date.
select count(*) as transitions
from lifecycle.stage_transitions
where as_of_date = cast(:as_of_date as date)
