-- scoring.intraday_scores: the night of :as_of_date supersedes the intraday scores of that date and before
-- (docs/adr/0019); run with its stages, so the nightly's own rows are what every reader sees from then on.
delete from scoring.intraday_scores where as_of_date <= cast(:as_of_date as date);
