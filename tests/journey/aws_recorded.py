"""Recorded GetMetricData answers (the shape `aws cloudwatch get-metric-data --output json` and
boto3 return) for the release watch's sample queries: moto does not compute percentiles or
metric math, so the watch's metric reads are tested against these.

Both recordings hold the same release: a candidate with 200 requests, 24 of them 5xx (12%), p99
480 ms, against a stable version with 1800 requests, 9 of them 5xx, p99 150 ms; in each
source's own units (ALB seconds, SageMaker microseconds).
"""

from __future__ import annotations

import copy
from typing import Any

_WHEN = ["2026-12-04T03:20:00+00:00"]


def _result(query_id: str, value: float) -> dict[str, Any]:
    return {
        "Id": query_id,
        "Label": query_id,
        "Timestamps": list(_WHEN),
        "Values": [value],
        "StatusCode": "Complete",
    }


_RECORDED: dict[str, dict[str, Any]] = {
    "api-first": {
        "MetricDataResults": [
            _result("candidate_errors_lb_connection", 4.0),
            _result("candidate_errors_lb_target", 20.0),
            _result("candidate_p99", 0.48),
            _result("candidate_requests_lb", 200.0),
            _result("stable_errors_lb_connection", 0.0),
            _result("stable_errors_lb_target", 9.0),
            _result("stable_p99", 0.15),
            _result("stable_requests_lb", 1800.0),
        ],
        "Messages": [],
    },
    "managed-platform": {
        "MetricDataResults": [
            _result("candidate_errors_sm_5xx", 24.0),
            _result("candidate_p99", 480000.0),
            _result("candidate_requests_sm", 200.0),
            _result("stable_errors_sm_5xx", 9.0),
            _result("stable_p99", 150000.0),
            _result("stable_requests_sm", 1800.0),
        ],
        "Messages": [],
    },
}


def get_metric_data_answer(pattern: str) -> dict[str, Any]:
    """A fresh copy of the recorded answer for ``pattern`` ("api-first", "managed-platform")."""
    return copy.deepcopy(_RECORDED[pattern])
