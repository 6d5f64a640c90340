# leadflow's Airflow image: the pinned requirements.txt plus the project, nothing installed at start-up.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    LEADFLOW_HOME=/opt/leadflow \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 50000 airflow \
    && useradd --system --uid 50000 --gid airflow --home-dir /opt/airflow --create-home airflow

WORKDIR /opt/leadflow
COPY requirements.txt ./
RUN pip install --no-cache-dir uv==0.13.9 \
    && uv pip install --system --no-cache --compile-bytecode -r requirements.txt

COPY pyproject.toml README.md ./
COPY plugins ./plugins
COPY dags ./dags
COPY sql ./sql
COPY config ./config
COPY email_templates ./email_templates
COPY gx ./gx
COPY deploy ./deploy
# bytecode compiled at build time: PYTHONDONTWRITEBYTECODE keeps tasks from caching it, and without it
# every task process compiled Great Expectations, Airflow and pandas from source (~6 s of CPU each)
RUN uv pip install --system --no-cache --no-deps -e . \
    && python -m compileall -q plugins dags \
    && mkdir -p /opt/leadflow/data && chown -R airflow:airflow /opt/leadflow/data /opt/airflow

USER airflow
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]
