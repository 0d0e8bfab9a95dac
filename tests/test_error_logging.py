"""How server-side refusals are logged: a foreseen outage (503) is a warning with its reason,
anything else a traceback."""

from __future__ import annotations

import logging

from vbwd.exceptions import ServiceUnavailable, exception_handler


class Request:
    path = "/api/v1/admin/tarif-plans"


def test_a_foreseen_outage_is_a_warning_with_its_reason(caplog):
    refusal = ServiceUnavailable("The cache is unreachable; catalog changes are refused")

    with caplog.at_level(logging.WARNING, logger="vbwd.exceptions"):
        response = exception_handler(refusal, {"request": Request()})

    assert response.status_code == 503
    assert response.data == {
        "error": "The cache is unreachable; catalog changes are refused",
        "code": "service_unavailable",
    }
    assert [
        (record.levelname, record.getMessage(), record.exc_info) for record in caplog.records
    ] == [
        (
            "WARNING",
            "Service unavailable in /api/v1/admin/tarif-plans: "
            "The cache is unreachable; catalog changes are refused",
            None,
        )
    ]


def test_an_unforeseen_error_is_logged_with_its_traceback(caplog):
    try:
        raise KeyError("plan")
    except KeyError as error:
        failure = error

    with caplog.at_level(logging.WARNING, logger="vbwd.exceptions"):
        response = exception_handler(failure, {"request": Request()})

    assert response.status_code == 500
    assert response.data == {"error": "Internal server error", "code": "server_error"}
    [record] = caplog.records
    assert record.levelname == "ERROR"
    assert record.getMessage() == "Unhandled error in /api/v1/admin/tarif-plans"
    assert record.exc_info[1] is failure
