-- Runs once when the postgres container is first created: the warehouse lives beside Airflow's metadata.
create database warehouse owner airflow;
