"""The autoscale short form: `autoscale: {min, max, tasks_per_node}` written as a Batch formula.

The formula is the pending-tasks pattern of Batch's documentation: it sizes the pool
for the tasks queued or running ($PendingTasks), scaling up on the last sample and
down on the average of the last few minutes (so that a brief dip does not shrink the
pool), one node per `tasks_per_node` tasks, within [min, max]. Nodes leave only once
their tasks are done (`taskcompletion`). The division rounds up by hand, `(n + k - 1) / k`,
as Batch drops the fraction of a target.
"""

from __future__ import annotations

# Batch's autoScaleEvaluationInterval when a pool is given none (15 minutes).
DEFAULT_INTERVAL = 15 * 60
# The window the average covers, and how much of it must hold samples for the average to count.
WINDOW = "TimeInterval_Minute * 3"
SAMPLE_PERCENT = 70


def pending_tasks_formula(
    min_nodes: int, max_nodes: int, tasks_per_node: int, *, spot: bool = False
) -> str:
    """The formula for the short form; `spot` sizes spot (low-priority) nodes instead."""
    if not 0 <= min_nodes <= max_nodes:
        raise ValueError(f"autoscale needs 0 <= min <= max, not {min_nodes} and {max_nodes}")
    if tasks_per_node < 1:
        raise ValueError(f"autoscale needs tasks_per_node >= 1, not {tasks_per_node}")
    target, other = "$TargetDedicatedNodes", "$TargetLowPriorityNodes"
    if spot:
        target, other = other, target
    lines = [
        f"// bwf autoscale: {min_nodes} to {max_nodes} nodes, {tasks_per_node} tasks per node",
        f"$minNodes = {min_nodes};",
        f"$maxNodes = {max_nodes};",
        f"$tasksPerNode = {tasks_per_node};",
        f"$samplePercent = $PendingTasks.GetSamplePercent({WINDOW});",
        "$lastSample = max(0, $PendingTasks.GetSample(1));",
        f"$pending = $samplePercent < {SAMPLE_PERCENT} ? $lastSample"
        f" : max($lastSample, avg($PendingTasks.GetSample({WINDOW})));",
        "$wanted = $pending > 0 ? ($pending + $tasksPerNode - 1) / $tasksPerNode : 0;",
        f"{target} = max($minNodes, min($maxNodes, $wanted));",
        f"{other} = 0;",
        "$NodeDeallocationOption = taskcompletion;",
    ]
    return "\n".join(lines) + "\n"
