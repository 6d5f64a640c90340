"""The report: a static site of charts and tables over the warehouse (`leadflow report`, the nightly `write_report`).

Every figure is computed in SQL (`sql/report/`, one query per file, on DuckDB and PostgreSQL alike);
Python only turns the query results into Vega-Lite charts, tables, CSV files and HTML pages.
"""
