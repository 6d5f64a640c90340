-- scoring.intraday_scores: the scores of :as_of_date so far of the leads in _intraday_scores (computed by the
-- nightly models in a transaction the intraday step rolled back, docs/adr/0019), replacing their earlier
-- intraday rows of that date; rows of earlier dates go (their nights have run).
delete from scoring.intraday_scores
where
    as_of_date < cast(:as_of_date as date)
    or (
        as_of_date = cast(:as_of_date as date)
        and lead_id in (select t.lead_id from _intraday_scores as t)
    );

insert into scoring.intraday_scores
select
    t.lead_id,
    cast(:as_of_date as date) as as_of_date,
    t.fit_score,
    t.engagement_score,
    t.total_score,
    t.fit_grade,
    t.score_change_7d,
    t.heating_up,
    t.hand_raiser,
    t.last_activity_date,
    t.top_reasons,
    t.rules_version,
    cast(:now as timestamptz) as scored_at
from _intraday_scores as t;

{{ m.analyze("scoring.intraday_scores") }};
