"""The autoscale formula language of the local Batch service, and the short form (no network).

Every formula of Batch's documentation ("Create a formula to automatically scale
compute nodes in a Batch pool") runs here on samples built for it, with the values
worked out by hand in the comments; one case replays a pool's `autoScaleRun` as Batch
reported it. Then the type rules, Batch's errors, and the bounds that keep a hostile
formula cheap.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import models

from runner.localbatch.autoscale import Sample, SystemSamples, evaluate, validate

UTC = timezone.utc
NOW = datetime(2024, 1, 3, 12, 0, 0, tzinfo=UTC)  # a Wednesday, noon
MONDAY = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
SATURDAY = datetime(2024, 1, 6, 12, 0, 0, tzinfo=UTC)

SYNTAX = "AutoScalingFormulaSyntaxError"
EVALUATION = "AutoScalingFormulaEvaluationError"
INSUFFICIENT = "InsufficientSampleData"


def history(values: list[float], *, every: int = 30, last: datetime = NOW) -> list[Sample]:
    """Samples `every` seconds, the last one taken at `last`."""
    count = len(values)
    return [
        Sample(last - timedelta(seconds=every * (count - 1 - i)), value)
        for i, value in enumerate(values)
    ]


@dataclass(frozen=True)
class Case:
    id: str
    formula: str
    samples: SystemSamples = field(default_factory=SystemSamples)
    now: datetime = NOW
    results: str | None = None  # the whole `autoScaleRun.results`
    values: dict[str, str] = field(default_factory=dict)  # some variables, as results print them
    dedicated: int | None = None
    low_priority: int | None = None
    option: str | None = None


DOC_PENDING_TASKS = """startingNumberOfVMs = 1;
maxNumberofVMs = 25;
pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs : avg($PendingTasks.GetSample(180 * TimeInterval_Second));
$TargetDedicatedNodes=min(maxNumberofVMs, pendingTaskSamples);
$NodeDeallocationOption = taskcompletion;
"""

DOC_PREEMPTED = """maxNumberofVMs = 25;
$TargetDedicatedNodes = min(maxNumberofVMs, $PreemptedNodeCount.GetSample(180 * TimeInterval_Second));
$TargetLowPriorityNodes = min(maxNumberofVMs , maxNumberofVMs - $TargetDedicatedNodes);
$NodeDeallocationOption = taskcompletion;
"""

DOC_CPU = """$totalDedicatedNodes =
    (min($CPUPercent.GetSample(TimeInterval_Minute * 10)) > 0.7) ?
    ($CurrentDedicatedNodes * 1.1) : $CurrentDedicatedNodes;
$totalDedicatedNodes =
    (avg($CPUPercent.GetSample(TimeInterval_Minute * 60)) < 0.2) ?
    ($CurrentDedicatedNodes * 0.9) : $totalDedicatedNodes;
$TargetDedicatedNodes = min(400, $totalDedicatedNodes)"""

DOC_WORK_HOURS = """
        $curTime = time();
        $workHours = $curTime.hour >= 8 && $curTime.hour < 18;
        $isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
        $isWorkingWeekdayHour = $workHours && $isWeekday;
        $TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;
    """

DOC_PYTHON = """$curTime = time();
             $workHours = $curTime.hour >= 8 && $curTime.hour < 18;
             $isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
             $isWorkingWeekdayHour = $workHours && $isWeekday;
             $TargetDedicated = $isWorkingWeekdayHour ? 20:10;"""

DOC_EXAMPLE_1_MDT = """$curTime = time() + (-6 * TimeInterval_Hour);
$workHours = $curTime.hour >= 8 && $curTime.hour < 18;
$isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
$isWorkingWeekdayHour = $workHours && $isWeekday;
$TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;
$NodeDeallocationOption = taskcompletion;
"""

DOC_EXAMPLE_2 = """// Get pending tasks for the past 15 minutes.
$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
// If we have fewer than 70 percent data points, we use the last sample point,
// otherwise we use the maximum of last sample point and the history average.
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
// If number of pending tasks is not 0, set targetVM to pending tasks, otherwise
// half of current dedicated.
$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
// The pool size is capped at 20, if target VM value is more than that, set it
// to 20. This value should be adjusted according to your use case.
$TargetDedicatedNodes = max(0, min($targetVMs, 20));
// Set node deallocation mode - let running tasks finish before removing a node
$NodeDeallocationOption = taskcompletion;
"""

# A formula and the `autoScaleRun` Batch reported for it on a pool (published by that
# pool's owner): results "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;
# $NodeDeallocationOption=taskcompletion;$samples=96.6667;$targetVMs=0.5;$tasks=0;
# cappedPoolSize=3", i.e. 29 of the 30 samples of 15 minutes, all 0, and a target of 1.
OBSERVED = """// Get pending tasks for the past 15 minutes.
$samples = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 15);
$tasks = $samples < 70 ? max(0, $ActiveTasks.GetSample(1)) :
max( $ActiveTasks.GetSample(1), avg($ActiveTasks.GetSample(TimeInterval_Minute * 15)));
$targetVMs = $tasks > 0 ? $tasks : max(0, $TargetDedicatedNodes / 2);
cappedPoolSize = 3;
$TargetDedicatedNodes = max(1, min($targetVMs, cappedPoolSize));
$NodeDeallocationOption = taskcompletion;
"""

DOC_EXAMPLE_3 = """// Determine whether 70 percent of the samples have been recorded in the past
// 15 minutes; if not, use last sample
$samples = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 15);
$tasks = $samples < 70 ? max(0,$ActiveTasks.GetSample(1)) : max( $ActiveTasks.GetSample(1),avg($ActiveTasks.GetSample(TimeInterval_Minute * 15)));
// Set the number of nodes to add to one-fourth the number of active tasks
$cores = $TargetDedicatedNodes * 4;
$extraVMs = (($tasks - $cores) + 3) / 4;
$targetVMs = ($TargetDedicatedNodes + $extraVMs);
// Attempt to grow the number of compute nodes to match the number of active
// tasks, with a maximum of 3
$TargetDedicatedNodes = max(0,min($targetVMs,3));
// Keep the nodes active until the tasks finish
$NodeDeallocationOption = taskcompletion;
"""


def doc_example_4(created: str) -> str:
    """The documentation builds this one with string.Format(formula, now, 4)."""
    return f"""
    $TargetDedicatedNodes = 4;
    lifespan         = time() - time("{created}");
    span             = TimeInterval_Minute * 60;
    startup          = TimeInterval_Minute * 10;
    ratio            = 50;

    $TargetDedicatedNodes = (lifespan > startup ? (max($RunningTasks.GetSample(span, ratio), $ActiveTasks.GetSample(span, ratio)) == 0 ? 0 : $TargetDedicatedNodes) : 4);
    """


def idle_hour(active: float = 0) -> SystemSamples:
    """An hour of samples: no task running, `active` tasks waiting."""
    return SystemSamples(
        history={"$RunningTasks": history([0] * 120), "$ActiveTasks": history([active] * 120)}
    )


PENDING_6 = SystemSamples(history={"$PendingTasks": history([2, 4, 6, 8, 10, 12])})
# The last minute of ten is missing: 18 of 20 samples, 90 percent.
CPU_18_OF_20 = SystemSamples(
    history={"$CPUPercent": history([0.5] * 18, last=NOW - timedelta(minutes=1))}
)

DOCUMENTED = [
    # 6 samples in 180 s: 100 percent; avg(2..12) = 7; min(25, 7) = 7.
    Case(
        "pending-tasks",
        DOC_PENDING_TASKS,
        PENDING_6,
        results="$TargetDedicatedNodes=7;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=taskcompletion;maxNumberofVMs=25;"
        "pendingTaskSamplePercent=100;pendingTaskSamples=7;startingNumberOfVMs=1",
        dedicated=7,
        option="taskcompletion",
    ),
    # 2 samples of the 6 a 180 s window holds: 33 percent < 70, so the starting 1 VM.
    Case(
        "pending-tasks-few-samples",
        DOC_PENDING_TASKS,
        SystemSamples(history={"$PendingTasks": history([9, 9])}),
        values={"pendingTaskSamplePercent": "33.3333", "pendingTaskSamples": "1"},
        dedicated=1,
    ),
    # 3 nodes preempted throughout: min(25, [3,3,3,3,3,3]) = 3 dedicated, 25 - 3 = 22 spot.
    Case(
        "preempted-nodes",
        DOC_PREEMPTED,
        SystemSamples(history={"$PreemptedNodeCount": history([3] * 6)}),
        results="$TargetDedicatedNodes=3;$TargetLowPriorityNodes=22;"
        "$NodeDeallocationOption=taskcompletion;maxNumberofVMs=25",
        dedicated=3,
        low_priority=22,
    ),
    # CPU at 0.9 for an hour: min > 0.7 so 10 * 1.1 = 11; avg is not < 0.2; min(400, 11).
    Case(
        "cpu-high",
        DOC_CPU,
        SystemSamples(history={"$CPUPercent": history([0.9] * 120)}, current_dedicated_nodes=10),
        results="$TargetDedicatedNodes=11;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=requeue;$totalDedicatedNodes=11",
        dedicated=11,
        option="requeue",
    ),
    # CPU at 0.1: min is not > 0.7 so 10; avg < 0.2 so 10 * 0.9 = 9.
    Case(
        "cpu-low",
        DOC_CPU,
        SystemSamples(history={"$CPUPercent": history([0.1] * 120)}, current_dedicated_nodes=10),
        values={"$totalDedicatedNodes": "9"},
        dedicated=9,
    ),
    Case(
        "dotnet-monday",
        "$TargetDedicatedNodes = (time().weekday == 1 ? 5:1);",
        now=MONDAY,
        dedicated=5,
    ),
    Case("dotnet-wednesday", "$TargetDedicatedNodes = (time().weekday == 1 ? 5:1);", dedicated=1),
    Case(
        "keep-current",
        "$TargetDedicatedNodes = $CurrentDedicatedNodes;",
        SystemSamples(current_dedicated_nodes=4, target_dedicated_nodes=6),
        dedicated=4,
    ),
    Case(
        "enable-then-evaluate",
        "$TargetDedicatedNodes = 0",
        SystemSamples(target_dedicated_nodes=3),
        dedicated=0,
    ),
    # The documentation's own output for this formula at 2016-10-13T19:18:47.805Z (a
    # Thursday, after hours), plus $TargetLowPriorityNodes, which results now list.
    Case(
        "evaluate-work-hours",
        DOC_WORK_HOURS,
        now=datetime(2016, 10, 13, 19, 18, 47, 805000, tzinfo=UTC),
        results="$TargetDedicatedNodes=10;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=requeue;$curTime=2016-10-13T19:18:47.805Z;$isWeekday=1;"
        "$isWorkingWeekdayHour=0;$workHours=0",
        dedicated=10,
    ),
    # The Python SDK example sets the alias $TargetDedicated: Wednesday noon is a work hour.
    Case(
        "python-alias-weekday",
        DOC_PYTHON,
        results="$TargetDedicatedNodes=20;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=requeue;$curTime=2024-01-03T12:00:00.000Z;$isWeekday=1;"
        "$isWorkingWeekdayHour=1;$workHours=1",
        dedicated=20,
    ),
    Case(
        "python-alias-saturday", DOC_PYTHON, now=SATURDAY, values={"$isWeekday": "0"}, dedicated=10
    ),
    # 13:00 UTC is 07:00 in Mountain Daylight Time: before work hours.
    Case(
        "example-1-mdt",
        DOC_EXAMPLE_1_MDT,
        now=datetime(2024, 1, 3, 13, 0, tzinfo=UTC),
        values={"$curTime": "2024-01-03T07:00:00.000Z", "$workHours": "0"},
        dedicated=10,
        option="taskcompletion",
    ),
    # 30 samples of 6 pending tasks in 15 minutes: max(6, avg 6) = 6 VMs.
    Case(
        "example-2-busy",
        DOC_EXAMPLE_2,
        SystemSamples(history={"$PendingTasks": history([6] * 30)}, target_dedicated_nodes=2),
        values={"$samples": "100", "$tasks": "6", "$targetVMs": "6"},
        dedicated=6,
    ),
    # No samples yet (0 percent): the last sample, none, counts as 0 tasks, so half the
    # current target, 8 / 2 = 4, which $TargetDedicatedNodes reads before it is set.
    Case(
        "example-2-no-samples",
        DOC_EXAMPLE_2,
        SystemSamples(target_dedicated_nodes=8),
        values={"$samples": "0", "$tasks": "0", "$targetVMs": "4"},
        dedicated=4,
    ),
    Case(
        "observed-autoscale-run",
        OBSERVED,
        SystemSamples(history={"$ActiveTasks": history([0] * 29)}, target_dedicated_nodes=1),
        results="$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;"
        "$NodeDeallocationOption=taskcompletion;$samples=96.6667;$targetVMs=0.5;$tasks=0;"
        "cappedPoolSize=3",
        dedicated=1,
    ),
    # 10 active tasks, target 1: cores 4, extra (10 - 4 + 3) / 4 = 2.25, 3.25 capped at 3.
    Case(
        "example-3-parallel",
        DOC_EXAMPLE_3,
        SystemSamples(history={"$ActiveTasks": history([10] * 30)}, target_dedicated_nodes=1),
        values={"$cores": "4", "$extraVMs": "2.25", "$targetVMs": "3.25", "$tasks": "10"},
        dedicated=3,
    ),
    # Created 5 minutes ago: within the 10-minute startup, 4 nodes.
    Case(
        "example-4-startup",
        doc_example_4("Wed, 03 Jan 2024 11:55:00 GMT"),
        values={"lifespan": "00:05:00", "startup": "00:10:00", "span": "01:00:00"},
        dedicated=4,
    ),
    # Two hours old, nothing running or waiting for an hour: 0.
    Case(
        "example-4-idle", doc_example_4("Wed, 03 Jan 2024 10:00:00 GMT"), idle_hour(), dedicated=0
    ),
    # Two hours old with waiting tasks: no change from the 4 set by the first statement.
    Case(
        "example-4-busy", doc_example_4("Wed, 03 Jan 2024 10:00:00 GMT"), idle_hour(2), dedicated=4
    ),
    # From 6 to 1 minutes ago: the 10 samples the documentation shows.
    Case(
        "sample-range",
        "$runningTasksSample = $RunningTasks.GetSample(1 * TimeInterval_Minute, 6 * TimeInterval_Minute);",
        SystemSamples(history={"$RunningTasks": history([1] * 20)}),
        values={"$runningTasksSample": "[1,1,1,1,1,1,1,1,1,1]"},
    ),
    # From 2 to 1 minutes ago: samples at -90 s and -60 s, all of the 2 expected.
    Case(
        "sample-range-percent",
        "$runningTasksSample = $RunningTasks.GetSample(60 * TimeInterval_Second, 120 * TimeInterval_Second, 75);",
        SystemSamples(history={"$RunningTasks": history([1, 2, 3, 4, 5])}),
        values={"$runningTasksSample": "[2,3]"},
    ),
    # 18 of 20 samples (90 percent) satisfy 80 percent.
    Case(
        "sample-percent-80",
        "$TargetDedicatedNodes = len($CPUPercent.GetSample(TimeInterval_Minute * 10, 80));",
        CPU_18_OF_20,
        dedicated=18,
    ),
    Case(
        "sample-methods",
        "n = $PendingTasks.Count(); first = $PendingTasks.HistoryBeginTime();"
        " period = $PendingTasks.GetSamplePeriod(); last = $PendingTasks.GetSample(1);"
        " recent = $PendingTasks.GetSample(3); cpu = $CPUPercent.GetSample(TimeInterval_Minute * 5);",
        PENDING_6,
        values={
            "n": "6",
            "first": "2024-01-03T11:57:30.000Z",
            "period": "00:00:30",
            "last": "[12]",
            "recent": "[8,10,12]",
            "cpu": "[]",
        },
    ),
]

V123 = SystemSamples(history={"$PendingTasks": history([1, 2, 3])})

TYPE_RULES = [
    Case(
        "time-arithmetic",
        "a = 2 * TimeInterval_Minute + TimeInterval_Second * 30; b = TimeInterval_Day / 4;"
        ' c = -TimeInterval_Hour; d = time() - time("2024-01-02T12:00:00Z");'
        ' e = time("2024-01-03T10:00:00Z") + TimeInterval_Hour * 2 == time();'
        " f = TimeInterval_Week > TimeInterval_Day; g = TimeInterval_100ns * 3;"
        ' h = TimeInterval_Hour + time("2024-01-03T13:00:00+01:00");',
        values={
            "a": "00:02:30",
            "b": "06:00:00",
            "c": "-01:00:00",
            "d": "1.00:00:00",
            "e": "1",
            "f": "1",
            "g": "00:00:00.0000003",
            "h": "2024-01-03T13:00:00.000Z",
        },
    ),
    Case(
        "comparisons-and-logic",
        'a = "abc" < "abd"; b = !0 && !(3 > 4) || 0; c = 2 != 2; d = 1 / 0 > 1e308;'
        " e = -(2 - 5) * 2 / 4; f = 0 ? 1 : 2 ? 3 : 4; g = 1 + 2 * 3 - 4 / 2;",
        values={"a": "1", "b": "1", "c": "0", "d": "1", "e": "1.5", "f": "3", "g": "5"},
    ),
    # v = [1,2,3]: doubleVec with double and with doubleVec, element by element.
    Case(
        "vector-arithmetic",
        "v = $PendingTasks.GetSample(3); w = v * 2 + v; x = v / v; y = v - 1;",
        V123,
        values={"v": "[1,2,3]", "w": "[3,6,9]", "x": "[1,1,1]", "y": "[0,1,2]"},
    ),
    # avg(v, 7) is avg(1, 2, 3, 7) = 3.25, as the documentation says.
    Case(
        "aggregates",
        "v = $PendingTasks.GetSample(3); a = avg(v, 7); b = len(v, 7); c = sum(v, 7); d = max(v, 7);"
        " e = min(v, 7); f = range(v, 7); g = norm(3, 4); h = std(2, 4, 4, 4, 5, 5, 7, 9);"
        " i = percentile(v, 50); j = val(v, 0); k = max(5);",
        V123,
        values={
            "a": "3.25",
            "b": "4",
            "c": "13",
            "d": "7",
            "e": "1",
            "f": "6",
            "g": "5",
            "h": "2.13809",  # sqrt(32 / 7), the sample standard deviation
            "i": "2",
            "j": "1",
            "k": "5",
        },
    ),
    # A single double gets the double version; a doubleVec gets the vector one.
    Case(
        "logs-and-rounding",
        "v = $PendingTasks.GetSample(3); a = lg(8); b = ln(1); c = log(1000); d = lg(v);"
        " e = log(v, 100); f = ceil(2.1); g = floor(-2.1); h = round(2.5); i = round(v / 2);"
        " j = log(0);",
        V123,
        values={
            "a": "3",
            "b": "0",
            "c": "3",
            "d": "[0,1,1.58496]",
            "e": "[0,0.30103,0.477121,2]",
            "f": "3",
            "g": "-3",
            "h": "3",
            "i": "[1,1,2]",
            "j": "-inf",
        },
    ),
    Case(
        "strings-and-options",
        's = "hello"; opt = terminate; $NodeDeallocationOption = opt; r = rand();',
        values={"s": "hello", "opt": "terminate", "r": "0.25"},
        option="terminate",
    ),
    # stop() ends the evaluation: the second assignment never happens.
    Case(
        "stop",
        "$TargetDedicatedNodes = 2; stop(); $TargetDedicatedNodes = 5;",
        dedicated=2,
    ),
    # stop() fits any type in a ternary; here it stops before $TargetDedicatedNodes is set.
    Case(
        "stop-in-ternary",
        "x = 1; $TargetDedicatedNodes = x > 0 ? stop() : 3;",
        SystemSamples(target_dedicated_nodes=6),
        dedicated=6,
    ),
    # && does not evaluate its right side when the left is 0: no sample-percent failure.
    Case(
        "short-circuit",
        "ok = 0 && len($CPUPercent.GetSample(TimeInterval_Minute, 100)) > 0;"
        " other = 1 || avg($CPUPercent.GetSample(1)) > 0;",
        values={"ok": "0", "other": "1"},
    ),
    # The full name wins over its alias, whatever the order.
    Case(
        "alias-precedence",
        "$TargetDedicated = 3; $TargetDedicatedNodes = 5; $TargetDedicated = 7; $TargetLowPriority = 2;",
        dedicated=5,
        low_priority=2,
    ),
    # Service variables are matched ignoring case, as Batch's examples spell them loosely.
    Case(
        "service-names-ignore-case",
        "$targetDedicatedNodes = $currentDedicatedNodes + 1;",
        dedicated=1,
    ),
    # The pool's target drops the fraction; results keep the value the formula computed.
    Case(
        "fractional-target",
        "$TargetDedicatedNodes = 2.9;\n// a comment; with a semicolon\n;;",
        values={"$TargetDedicatedNodes": "2.9"},
        dedicated=2,
    ),
    Case(
        "usable-and-slots",
        "$TargetDedicatedNodes = $UsableNodeCount * $TaskSlotsPerNode + $PreemptedNodeCount"
        " + $CurrentLowPriorityNodes;",
        SystemSamples(
            usable_node_count=2,
            task_slots_per_node=3,
            preempted_node_count=1,
            current_low_priority_nodes=4,
        ),
        dedicated=11,
    ),
]


@pytest.mark.parametrize("case", DOCUMENTED + TYPE_RULES, ids=lambda c: c.id)
def test_formula(case: Case) -> None:
    result = evaluate(case.formula, case.samples, case.now, random=lambda: 0.25)
    assert result.error is None, result.error
    printed = dict(part.split("=", 1) for part in result.results.split(";"))
    if case.results is not None:
        assert result.results == case.results
    for name, value in case.values.items():
        assert printed[name] == value, name
    if case.dedicated is not None:
        assert result.target_dedicated_nodes == case.dedicated
    if case.low_priority is not None:
        assert result.target_low_priority_nodes == case.low_priority
    if case.option is not None:
        assert result.node_deallocation_option == case.option


def test_doc_sample_percent_95_fails_with_batchs_error() -> None:
    # The documentation: with 18 of 20 samples, GetSample(TimeInterval_Minute * 10, 95) fails.
    formula = (
        "x = 1;\n$TargetDedicatedNodes = len($CPUPercent.GetSample(TimeInterval_Minute * 10, 95));"
    )
    result = evaluate(formula, CPU_18_OF_20, NOW)
    assert result.error is not None
    assert result.error.to_rest() == {
        "code": "InsufficientSampleData",
        "message": "Autoscale evaluation failed due to insufficient sample data",
        "values": [
            {
                "name": "Message",
                "value": "Line 2, Col 29: Insufficient data from data set: $CPUPercent "
                "wanted 95%, received 90%",
            }
        ],
    }
    # The pool keeps its size; results still show what was computed before the failure.
    assert result.target_dedicated_nodes is None and result.node_deallocation_option is None
    assert result.results.endswith(";x=1")
    # The shape is the SDK's AutoScaleRunError.
    sdk = models.AutoScaleRunError(result.error.to_rest())
    assert sdk.code == "InsufficientSampleData" and sdk.error_values[0].name == "Message"


ERRORS = [
    ("$TargetDedicatedNodes = ;", SYNTAX, "Line 1, Col 25: unexpected ';'"),
    ("x = 1 +\n", SYNTAX, "Line 2, Col 1: unexpected end of formula"),
    ('x = "a" + 1;', SYNTAX, "Line 1, Col 9: operator '+' is not defined for string and double"),
    # timestamp - timeinterval is not in the documented operator table.
    (
        "t = time() - TimeInterval_Hour;",
        SYNTAX,
        "Line 1, Col 12: operator '-' is not defined for timestamp and timeinterval",
    ),
    (
        "x = 2 * $PendingTasks.GetSample(1);",
        SYNTAX,
        "Line 1, Col 7: operator '*' is not defined for double and doubleVec",
    ),
    (
        "x = 1 ? 2 : time();",
        SYNTAX,
        "Line 1, Col 7: the two branches of '?' differ: double and timestamp",
    ),
    (
        "$CurrentDedicatedNodes = 3;",
        SYNTAX,
        "Line 1, Col 1: $CurrentDedicatedNodes is a read-only service variable and cannot be assigned",
    ),
    (
        "TimeInterval_Hour = 3;",
        SYNTAX,
        "Line 1, Col 1: TimeInterval_Hour is a timeinterval constant and cannot be assigned",
    ),
    (
        "$TargetDedicatedNodes = nodes;",
        SYNTAX,
        "Line 1, Col 25: 'nodes' is used before it is assigned",
    ),
    (
        '$TargetDedicatedNodes = "5";',
        SYNTAX,
        "Line 1, Col 1: $TargetDedicatedNodes takes a double, not a string",
    ),
    (
        '$NodeDeallocationOption = "fast";',
        SYNTAX,
        "Line 1, Col 27: 'fast' is not a node deallocation option "
        "(requeue, terminate, taskcompletion, retaineddata)",
    ),
    ("x = median(1, 2);", SYNTAX, "Line 1, Col 5: unknown function 'median'"),
    ("x = avg(time());", SYNTAX, "Line 1, Col 5: avg() is not defined for (timestamp)"),
    ("x = $PendingTasks.GetSample();", SYNTAX, "Line 1, Col 19: GetSample() is not defined for ()"),
    ("x = $PendingTasks.Average(1);", SYNTAX, "Line 1, Col 19: unknown method 'Average'"),
    (
        "x = 2; y = x.GetSample(1);",
        SYNTAX,
        "Line 1, Col 14: GetSample() is a method of the sampled variables, e.g. $PendingTasks",
    ),
    ("x = time().hours;", SYNTAX, "Line 1, Col 12: a timestamp has no member 'hours'"),
    (
        "x = $PendingTasks * 2;",
        SYNTAX,
        "Line 1, Col 5: $PendingTasks is a sample set: read it with a method, e.g. $PendingTasks.GetSample(1)",
    ),
    ("x = 5 % 2;", SYNTAX, "Line 1, Col 7: unexpected character '%'"),
    ("x = [1, 2];", SYNTAX, "Line 1, Col 5: unexpected character '['"),
    ("x = 'a';", SYNTAX, "Line 1, Col 5: unexpected character '''"),
    ('x = "abc;', SYNTAX, "Line 1, Col 5: unterminated string"),
    ("1 = x;", SYNTAX, "Line 1, Col 3: only a variable can be assigned"),
    ("x = 1 y = 2;", SYNTAX, "Line 1, Col 7: unexpected 'y', expected ';'"),
    ("x = 1;" * 101, SYNTAX, "Line 1, Col 601: a formula has at most 100 statements"),
    ("// nothing but a comment\n", SYNTAX, "Line 2, Col 1: the formula has no statement"),
    # Failures that only evaluation can find.
    (
        "v = $PendingTasks.GetSample(3); x = val(v, 3);",
        EVALUATION,
        "Line 1, Col 37: val() index 3 is not an element of a vector of 3",
    ),
    (
        "$TargetDedicatedNodes = -1;",
        EVALUATION,
        "Line 1, Col 1: $TargetDedicatedNodes is -1, not a number of nodes",
    ),
    (
        "$TargetLowPriorityNodes = 1 / 0;",
        EVALUATION,
        "Line 1, Col 1: $TargetLowPriorityNodes is inf, not a number of nodes",
    ),
    (
        "x = avg($CPUPercent.GetSample(TimeInterval_Minute));",
        EVALUATION,
        "Line 1, Col 5: avg() of an empty list",
    ),
    (
        "x = std(1);",
        EVALUATION,
        "Line 1, Col 5: std() needs at least two values (it is the sample standard deviation)",
    ),
    (
        "v = $PendingTasks.GetSample(3); w = $PendingTasks.GetSample(2); x = v + w;",
        EVALUATION,
        "Line 1, Col 71: the doubleVecs have different lengths (3, 2)",
    ),
    (
        'x = time("next tuesday");',
        EVALUATION,
        "Line 1, Col 5: time() cannot read 'next tuesday' as a W3C-DTF or RFC 1123 date",
    ),
    (
        "x = TimeInterval_Second / 0;",
        EVALUATION,
        "Line 1, Col 25: a timeinterval cannot be divided by zero",
    ),
    (
        "x = TimeInterval_Year * 1e300;",
        EVALUATION,
        "Line 1, Col 23: the timeinterval is out of range",
    ),
    (
        "x = $CPUPercent.HistoryBeginTime();",
        EVALUATION,
        "Line 1, Col 17: $CPUPercent has no samples yet",
    ),
    (
        "x = percentile($PendingTasks.GetSample(3), 101);",
        EVALUATION,
        "Line 1, Col 5: percentile() takes a percentile between 0 and 100, not 101",
    ),
]


@pytest.mark.parametrize(("formula", "code", "detail"), ERRORS, ids=[e[2][:60] for e in ERRORS])
def test_error(formula: str, code: str, detail: str) -> None:
    result = evaluate(formula, V123, NOW)
    assert result.error is not None
    assert (result.error.code, result.error.values) == (code, (("Message", detail),))
    assert result.target_dedicated_nodes is None and result.target_low_priority_nodes is None
    assert (validate(formula) is None) == (code != SYNTAX)


def test_error_messages_are_batchs() -> None:
    syntax = validate("x = ")
    assert syntax is not None
    assert syntax.message == "The specified auto-scaling formula has a syntax error."
    too_long = validate("$TargetDedicatedNodes = 1;" + " " * 8192)
    assert too_long is not None and too_long.code == "AutoScaleFormulaTooLong"
    assert validate("$TargetDedicatedNodes = 1;" + " " * (8192 - 26)) is None


@pytest.mark.parametrize(
    "formula",
    [
        "x = " + "(" * 200 + "1" + ")" * 200 + ";",
        "x = " + "-" * 500 + "1;",
        "x = " + " + ".join(["1"] * 2000) + ";",
        "x = " + "max(" * 100 + "1" + ")" * 100 + ";",
        "x = 1 ? " * 500 + "1" + " : 2" * 500 + ";",
    ],
    ids=["parentheses", "unary", "long-chain", "nested-calls", "nested-ternaries"],
)
def test_deep_formulas_are_refused_not_crashed(formula: str) -> None:
    error = validate(formula)
    assert error is not None and error.code == SYNTAX


def test_formulas_at_the_limits_evaluate() -> None:
    # 99 additions (100 levels of tree) and 31 parentheses inside each other are allowed.
    chain = "x = " + " + ".join(["1"] * 100) + ";"
    nested = "y = " + "(" * 31 + "2" + ")" * 31 + ";"
    result = evaluate(chain + nested, SystemSamples(), NOW)
    assert result.error is None, result.error
    assert result.results.endswith(";x=100;y=2")


def test_expensive_formula_stops_within_its_budget() -> None:
    # A day of samples every second; 60 statements each adding the vector to itself 8 times.
    day = SystemSamples(history={"$CPUPercent": history([1.0] * 86400, every=1)})
    statements = ["v = $CPUPercent.GetSample(TimeInterval_Day);"]
    statements += ["w = " + " + ".join(["v"] * 8) + ";"] * 60
    started = time.monotonic()
    result = evaluate("".join(statements), day, NOW)
    assert result.error is not None and result.error.code == EVALUATION
    assert "takes too much work" in result.error.values[0][1]
    assert time.monotonic() - started < 60  # bounded, not hanging


class RandomFormulas:
    """Well-formed formulas of random operators, functions and methods, most of them ill-typed."""

    ATOMS = ("x", "$TargetDedicatedNodes", "$PreemptedNodeCount", "0", "2.5", "1e308", "-1")
    ATOMS += ("v", '"2024-01-01T00:00:00Z"', "TimeInterval_Year", "taskcompletion", "time()")
    FUNCTIONS = ("avg", "len", "lg", "max", "norm", "percentile", "std", "val", "round", "time")
    METHODS = ("GetSample", "GetSamplePercent", "GetSamplePeriod", "Count", "HistoryBeginTime")
    OPERATORS = ("+", "-", "*", "/", "<", "==", "!=", "&&", "||")

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def formula(self) -> str:
        targets = ("x", "z", "$TargetDedicatedNodes")
        statements = ["v = $PendingTasks.GetSample(5)", "x = 1"]
        statements += [f"{self.rng.choice(targets)} = {self.expression(3)}" for _ in range(2)]
        return ";\n".join(statements)

    def expression(self, depth: int) -> str:
        pick, rng = self.rng.random(), self.rng
        if depth == 0 or pick < 0.3:
            return rng.choice(self.ATOMS[: 7 if pick < 0.2 else None])
        if pick < 0.5:
            return f"{self.expression(depth - 1)} {rng.choice(self.OPERATORS)} {self.expression(depth - 1)}"
        if pick < 0.6:
            return f"({self.expression(depth - 1)} ? {self.expression(depth - 1)} : {self.expression(depth - 1)})"
        if pick < 0.65:
            return f"-time({rng.choice(('', self.expression(depth - 1)))}).hour"
        args = ", ".join(self.expression(depth - 1) for _ in range(rng.randint(0, 3)))
        if pick < 0.8:
            return f"{rng.choice(self.FUNCTIONS)}({args})"
        return f"{rng.choice(('$PendingTasks', '$CPUPercent'))}.{rng.choice(self.METHODS)}({args})"


def test_random_formulas_get_a_result_or_batchs_error_never_an_exception() -> None:
    generate, evaluated = RandomFormulas(seed=11), 0
    for _ in range(2000):
        result = evaluate(generate.formula(), PENDING_6, NOW, random=generate.rng.random)
        if result.error is None:
            evaluated += 1
        else:
            assert result.error.code in (SYNTAX, EVALUATION, INSUFFICIENT)
    assert evaluated > 200  # the generator does reach evaluation, not only the type checker


@pytest.mark.parametrize(
    "make",
    [
        lambda: SystemSamples(history={"$CPUPercent": [Sample(datetime(2024, 1, 1), 1.0)]}),
        lambda: SystemSamples(history={"$CurrentDedicatedNodes": []}),
        lambda: SystemSamples(target_dedicated_nodes=-1),
        lambda: SystemSamples(sample_period=timedelta(0)),
        lambda: evaluate("x = 1", SystemSamples(), datetime(2024, 1, 1)),
    ],
    ids=["naive-sample-time", "not-a-sampled-metric", "negative-target", "no-period", "naive-now"],
)
def test_the_service_passes_well_formed_samples(make: Callable[[], object]) -> None:
    # A caller's mistake, not a formula's: a ValueError for the service's own tests to catch.
    with pytest.raises(ValueError):
        make()
