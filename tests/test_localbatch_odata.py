"""The local Batch service's `$filter` parser on its own (no network): Batch's documented
operators, literals and precedence, and its errors for what a list does not allow."""

from __future__ import annotations

from typing import Any

import pytest

from runner.localbatch import filterable
from runner.localbatch.errors import ApiError
from runner.localbatch.odata import compile_filter

TASKS: list[dict[str, Any]] = [
    {
        "id": "t001",
        "state": "completed",
        "creationTime": "2025-01-01T10:00:00.000000Z",
        "lastModified": "2025-01-01T10:05:00.000000Z",
        "executionInfo": {
            "exitCode": 0,
            "result": "success",
            "endTime": "2025-01-01T10:05:00.000000Z",
        },
    },
    {
        "id": "t002",
        "state": "completed",
        "creationTime": "2025-01-01T11:00:00.000000Z",
        "lastModified": "2025-01-01T11:05:00.000000Z",
        "executionInfo": {
            "exitCode": 3,
            "result": "failure",
            "endTime": "2025-01-01T11:05:00.000000Z",
        },
    },
    {
        "id": "x003",
        "state": "active",
        "creationTime": "2025-01-02T09:00:00.000000Z",
        "lastModified": "2025-01-02T09:00:00.000000Z",
        "executionInfo": {"retryCount": 0},
    },
    {
        "id": "it's",
        "state": "running",
        "creationTime": "2025-01-03T09:00:00.000000Z",
        "lastModified": "2025-01-03T09:00:00.000000Z",
        "executionInfo": {"exitCode": -1},
    },
]


def ids(text: str) -> list[str]:
    pred = compile_filter(text, filterable.TASKS)
    assert pred is not None
    return [t["id"] for t in TASKS if pred(t)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state eq 'completed'", ["t001", "t002"]),
        ("state eq 'Completed'", ["t001", "t002"]),  # enum values ignore case
        ("state ne 'completed'", ["x003", "it's"]),
        ("executionInfo/result eq 'failure'", ["t002"]),
        ("executionInfo/exitCode gt 0", ["t002"]),
        ("executionInfo/exitCode ge 0", ["t001", "t002"]),
        ("executionInfo/exitCode lt 0", ["it's"]),
        ("executionInfo/exitCode le 3 and executionInfo/exitCode ge 3", ["t002"]),
        ("executionInfo/exitCode ne 0", ["t002", "x003", "it's"]),  # absent is not 0
        ("startswith(id,'t00')", ["t001", "t002"]),
        ("startswith(id, 'x') eq true", ["x003"]),
        ("startswith(id,'t') eq false", ["x003", "it's"]),
        ("id eq 'it''s'", ["it's"]),
        ("id ge 't002'", ["t002", "x003"]),
        ("creationTime gt datetime'2025-01-01T10:30:00Z'", ["t002", "x003", "it's"]),
        ("creationTime lt datetime'2025-01-02T00:00:00.0000000Z'", ["t001", "t002"]),
        ("lastModifiedTime ge datetime'2025-01-03T00:00:00Z'", ["it's"]),
        ("executionInfo/endTime le datetime'2025-01-01T10:30:00Z'", ["t001"]),
        ("state eq 'active' or state eq 'running'", ["x003", "it's"]),
        # and binds tighter than or
        (
            "state eq 'active' or state eq 'completed' and executionInfo/exitCode eq 3",
            ["t002", "x003"],
        ),
        ("(state eq 'active' or state eq 'completed') and startswith(id,'x')", ["x003"]),
        ("((state eq 'running'))", ["it's"]),
        ("state EQ 'running'", ["it's"]),  # operators ignore case
    ],
)
def test_filters_select_what_batch_selects(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("commandLine eq 'x'", "cannot be filtered on in this list"),
        ("startswith(state,'a')", "not supported on 'state'"),
        ("executionInfo/result gt 'a'", "not supported on 'executionInfo/result'"),
        ("state eq 'a' and", "expected a property name"),
        ("(state eq 'a'", "expected ')'"),
        ("state eq 'a')", "unexpected ')'"),
        ("state = 'a'", "unexpected character '='"),
        ("state eq 'unterminated", "unexpected character"),
        ("creationTime gt datetime'yesterday'", "is not a date and time"),
        ("state 'a'", "expected one of eq, ne, gt, ge, lt, le"),
        ("startswith(id,5)", "needs a quoted string"),
    ],
)
def test_unsupported_filters_get_batchs_error(text: str, reason: str) -> None:
    with pytest.raises(ApiError) as e:
        compile_filter(text, filterable.TASKS)
    assert e.value.status == 400 and e.value.code == "InvalidQueryParameterValue"
    assert e.value.values["QueryParameterName"] == "$filter"
    assert reason in e.value.values["Reason"]


def test_each_list_has_its_own_properties() -> None:
    assert compile_filter("startswith(name,'wd/')", filterable.FILES) is not None
    with pytest.raises(ApiError):
        compile_filter("state eq 'idle'", filterable.FILES)
    assert compile_filter("startTaskInfo/exitCode ne 0", filterable.NODES) is not None
    with pytest.raises(ApiError):
        compile_filter("startTaskInfo/state ne 'running'", filterable.NODES)  # eq only
    assert compile_filter("", filterable.TASKS) is None
