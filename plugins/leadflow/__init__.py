"""leadflow: nightly lead scoring, lifecycle stages, nurture email and CRM write-back on Airflow 3."""

__version__ = "0.1.0"
