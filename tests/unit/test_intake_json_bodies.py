"""A pushed body that json refuses with a plain ValueError (not a JSONDecodeError) is a 400, not a 500."""

from __future__ import annotations

import pytest

from leadflow.intake.webhook import Rejected, web_event_records

HUGE = b"1" * 5000  # over Python's 4,300-digit limit for int(): json raises ValueError, not JSONDecodeError


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"event_id": "a", "n": ' + HUGE + b"}]", "body is not valid JSON"),
        (b'{"event_id": "a", "n": ' + HUGE + b"}", "line 1 is not valid JSON"),
        (b'[{"event_id": "a"', "body is not valid JSON: Expecting"),
    ],
)
def test_refused_json_is_a_400_with_a_reason(body: bytes, message: str) -> None:
    with pytest.raises(Rejected, match=message) as refused:
        web_event_records(body)
    assert refused.value.status == 400
