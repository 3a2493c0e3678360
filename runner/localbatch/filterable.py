"""What each list lets `$filter` use: properties, their types and operators, after
"OData filters in Batch". A property missing here is refused with Batch's error."""

from __future__ import annotations

from runner.localbatch.odata import Prop

_ORDER = ("eq", "ne", "gt", "ge", "lt", "le")
_EQ = ("eq", "ne")

TIME = Prop("datetime", _ORDER)
INT = Prop("int", _ORDER)
ENUM = Prop("enum", _EQ)
ENUM_EQ = Prop("enum", ("eq",))
TEXT = Prop("string", _EQ)
TEXT_ORDERED = Prop("string", ("startswith", *_ORDER))
BOOL = Prop("bool", _EQ)
NAME_PREFIX = Prop("string", ("startswith",))

SUPPORTED_IMAGES = {"osType": ENUM, "verificationType": ENUM, "nodeAgentSKUId": TEXT}
NODE_AGENT_SKUS = {"osType": ENUM}

POOLS = {
    "id": TEXT_ORDERED,
    "state": ENUM,
    "stateTransitionTime": TIME,
    "allocationState": ENUM,
    "allocationStateTransitionTime": TIME,
    "creationTime": TIME,
    "enableAutoScale": BOOL,
    "lastModified": TIME,
    "vmSize": TEXT,
    "enableInterNodeCommunication": BOOL,
}

NODES = {
    "state": ENUM,
    "stateTransitionTime": TIME,
    "lastBootTime": TIME,
    "allocationTime": TIME,
    "startTaskInfo/state": ENUM_EQ,
    "startTaskInfo/result": ENUM,
    "startTaskInfo/exitCode": INT,
    "startTaskInfo/startTime": TIME,
    "startTaskInfo/endTime": TIME,
}

NODE_COUNTS = {"poolId": Prop("string", ("eq",))}

FILES = {"name": NAME_PREFIX}

JOBS = {
    "id": TEXT_ORDERED,
    "state": ENUM,
    "stateTransitionTime": TIME,
    "creationTime": TIME,
    "lastModified": TIME,
    "executionInfo/startTime": TIME,
    "executionInfo/endTime": TIME,
    "executionInfo/poolId": TEXT_ORDERED,
}

PREP_RELEASE = {
    "poolId": TEXT,
    "nodeId": TEXT,
    **{
        f"{kind}/{name}": prop
        for kind in ("jobPreparationTaskExecutionInfo", "jobReleaseTaskExecutionInfo")
        for name, prop in (
            ("state", ENUM_EQ),
            ("startTime", TIME),
            ("endTime", TIME),
            ("exitCode", INT),
            ("result", ENUM),
        )
    },
}

TASKS = {
    "id": TEXT_ORDERED,
    "state": ENUM,
    "stateTransitionTime": TIME,
    "creationTime": TIME,
    "lastModified": TIME,
    "lastModifiedTime": Prop("datetime", _ORDER, field="lastModified"),  # the documented name
    "executionInfo/startTime": TIME,
    "executionInfo/endTime": TIME,
    "executionInfo/exitCode": INT,
    "executionInfo/result": ENUM,
}

USAGE_METRICS = {"poolId": Prop("string", ("eq", "gt", "ge", "lt", "le", "startswith"))}

SUBTASKS: dict[str, Prop] = {}
