"""The nightly DAG's gate: a sensor that waits until the run may touch the warehouse (see runtime.night_turn)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseSensorOperator


class NightTurnSensor(BaseSensorOperator):
    """Waits while an earlier-dated nightly run is running or another run holds the warehouse's nightly lock."""

    def poke(self, context: Any) -> bool:
        from leadflow.runtime import night_turn

        return night_turn(context)
