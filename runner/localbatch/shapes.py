"""The shape of each request body, checked before its handler runs (`@accepts(SHAPE)`).

A shape names the JSON type of every property that the service reads or keeps, which
nested properties must be present, and the format of a few strings. So a body of the
wrong shape is Batch's 400 and never reaches a handler, the store or the scheduler
(where a string in place of an object used to become a 500, or a crash on a worker).

- the body is not a JSON object, or a property has the wrong JSON type (an integer
  outside 32 bits included): 400 `InvalidRequestBody` (Batch cannot deserialize it);
- a required nested property is missing: 400 `MissingRequiredProperty`;
- a string in the wrong format (a duration, a file mode): 400 `InvalidPropertyValue`.

The Azure CLI sends the integers and booleans it takes as command-line options as
strings (`az batch job set --priority 22` sends `"priority": "22"`), and Batch reads
them: those properties are `INT_OPTION` and `BOOL_OPTION`, which accept the digits of a
32-bit integer, or `true`/`false`, in a string too. Handlers read them with `fields`,
which converts them; everywhere else a string is not a number.

Unknown properties pass unchecked (the service ignores most of Batch's options), and
null stands for an absent property, as in Batch. Required top-level properties (`id`,
`commandLine`, ...) are the handlers' checks, with their own messages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from runner.localbatch.errors import invalid, missing
from runner.localbatch.rest import Request, Response, bad_body, json_type

_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class Scalar:
    kind: str  # how the type reads in a message: "a string"
    accepts: Callable[[Any], bool]
    pattern: re.Pattern[str] | None = None  # for strings: the format, else InvalidPropertyValue
    reason: str = ""  # what the pattern means


@dataclass(frozen=True)
class Record:
    fields: Mapping[str, Shape] = field(default_factory=dict)
    required: tuple[str, ...] = ()  # in the order they are checked


@dataclass(frozen=True)
class ListOf:
    item: Shape


Shape = Scalar | Record | ListOf

STRING = Scalar("a string", lambda v: isinstance(v, str))
BOOL = Scalar("a boolean", lambda v: isinstance(v, bool))
_DIGITS = re.compile(r"[-+]?\d{1,10}")


def _int32(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and _INT32[0] <= v <= _INT32[1]


def _int32_text(v: Any) -> bool:
    return _int32(v) or (isinstance(v, str) and bool(_DIGITS.fullmatch(v)) and _int32(int(v)))


INT = Scalar("a 32-bit integer", _int32)
INT_OPTION = Scalar("a 32-bit integer, or its digits in a string", _int32_text)
BOOL_OPTION = Scalar(
    "a boolean, or true or false in a string",
    lambda v: isinstance(v, bool) or (isinstance(v, str) and v.lower() in ("true", "false")),
)
DURATION = Scalar(
    "a string",
    lambda v: isinstance(v, str),
    re.compile(r"P(?=\d|T\d)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"),
    "The value must be an ISO 8601 duration such as PT1H30M or P7D.",
)
FILE_MODE = Scalar(
    "a string",
    lambda v: isinstance(v, str),
    re.compile(r"[0-7]{3,4}"),
    "The file mode must be octal, such as 0755.",
)
ANY_RECORD = Record()  # an object whose properties the service does not read


# Where a value sits in the body, as a linked list (parent, name or index), turned into
# text only for an error: checking a 100-task collection builds no strings.
_Where = tuple[Any, str | int] | None


def _named(where: _Where) -> str:
    parts: list[str | int] = []
    while where is not None:
        where, part = where
        parts.append(part)
    text = ""
    for part in reversed(parts):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def check(shape: Shape, value: Any, where: str) -> None:
    """ApiError 400 unless `value` (not None) has `shape`; `where` names it in the error."""
    _check(shape, value, (None, where) if where else None)


def _check(shape: Shape, value: Any, where: _Where) -> None:
    if isinstance(shape, Scalar):
        if not shape.accepts(value):
            name = _named(where)
            raise bad_body(f"{name} must be {shape.kind}, not {json_type(value)}.", name)
        if shape.pattern is not None and not shape.pattern.fullmatch(value):
            raise invalid(_named(where), value, shape.reason)
    elif isinstance(shape, ListOf):
        if not isinstance(value, list):
            name = _named(where)
            raise bad_body(f"{name} must be an array, not {json_type(value)}.", name)
        for i, item in enumerate(value):
            if item is None:
                name = _named((where, i))
                raise bad_body(f"{name} must not be null.", name)
            _check(shape.item, item, (where, i))
    else:
        if not isinstance(value, dict):
            name = _named(where)
            raise bad_body(f"{name or 'The body'} must be an object, not {json_type(value)}.", name)
        for name in shape.required:
            if value.get(name) is None:
                raise missing(_named((where, name)))
        fields = shape.fields
        for name, item in value.items():
            sub = fields.get(name)
            if sub is not None and item is not None:
                _check(sub, item, (where, name))


Handler = TypeVar("Handler", bound=Callable[..., Response])


def accepts(shape: Record) -> Callable[[Handler], Handler]:
    """Check the request body against `shape` before the handler runs. The shape stays on
    the handler (`body_shape`), so that tests can send every route its wrong shapes."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def checked(api: Any, req: Request, *ids: str) -> Response:
            check(shape, req.json(), "")
            return handler(api, req, *ids)

        checked.body_shape = shape  # type: ignore[attr-defined]
        return cast(Handler, checked)

    return decorate


def body_shape(handler: Callable[..., Response]) -> Record | None:
    """The shape a handler accepts, or None when it was not declared."""
    shape = getattr(handler, "body_shape", None)
    return shape if isinstance(shape, Record) else None


def _record(fields: Mapping[str, Shape], *required: str) -> Record:
    return Record(fields, tuple(sorted(required)))


NAME_VALUE = _record({"name": STRING, "value": STRING}, "name")
ENVIRONMENT = ListOf(NAME_VALUE)
METADATA = ListOf(_record({"name": STRING, "value": STRING}, "name", "value"))
RESOURCE_FILE = _record(
    {
        "autoStorageContainerName": STRING,
        "storageContainerUrl": STRING,
        "httpUrl": STRING,
        "blobPrefix": STRING,
        "filePath": STRING,
        "fileMode": FILE_MODE,
        "identityReference": ANY_RECORD,
    }
)
USER_IDENTITY = _record(
    {"username": STRING, "autoUser": _record({"scope": STRING, "elevationLevel": STRING})}
)
REGISTRY = _record(
    {
        "registryServer": STRING,
        "username": STRING,
        "password": STRING,
        "identityReference": ANY_RECORD,
    }
)
CONTAINER_SETTINGS = _record(
    {
        "imageName": STRING,
        "containerRunOptions": STRING,
        "workingDirectory": STRING,
        "registry": REGISTRY,
        "containerHostBatchBindMounts": ListOf(_record({"source": STRING, "isReadOnly": BOOL})),
    },
    "imageName",
)
CONTAINER_CONFIGURATION = _record(
    {
        "type": STRING,
        "containerImageNames": ListOf(STRING),
        "containerRegistries": ListOf(REGISTRY),
    },
    "type",
)
TASK_CONSTRAINTS = _record(
    {"maxWallClockTime": DURATION, "retentionTime": DURATION, "maxTaskRetryCount": INT_OPTION}
)
_COMMON_TASK: dict[str, Shape] = {
    "commandLine": STRING,
    "resourceFiles": ListOf(RESOURCE_FILE),
    "environmentSettings": ENVIRONMENT,
    "userIdentity": USER_IDENTITY,
    "containerSettings": CONTAINER_SETTINGS,
}
START_TASK = _record(
    {**_COMMON_TASK, "maxTaskRetryCount": INT_OPTION, "waitForSuccess": BOOL_OPTION},
    "commandLine",
)
IMAGE_REFERENCE = _record(
    {
        "publisher": STRING,
        "offer": STRING,
        "sku": STRING,
        "version": STRING,
        "virtualMachineImageId": STRING,
    }
)
VM_CONFIGURATION = _record(
    {
        "imageReference": IMAGE_REFERENCE,
        "nodeAgentSKUId": STRING,
        "containerConfiguration": CONTAINER_CONFIGURATION,
    }
)
_POOL_SETTINGS: dict[str, Shape] = {
    "displayName": STRING,
    "vmSize": STRING,
    "virtualMachineConfiguration": VM_CONFIGURATION,
    "enableInterNodeCommunication": BOOL,
    "startTask": START_TASK,
    "taskSlotsPerNode": INT_OPTION,
    "taskSchedulingPolicy": _record({"nodeFillType": STRING, "jobDefaultOrder": STRING}),
    "metadata": METADATA,
}
_POOL_SIZE: dict[str, Shape] = {
    "targetDedicatedNodes": INT_OPTION,
    "targetLowPriorityNodes": INT_OPTION,
    "resizeTimeout": DURATION,
}
POOL_ADD = _record(
    {
        "id": STRING,
        **_POOL_SETTINGS,
        **_POOL_SIZE,
        "enableAutoScale": BOOL,
        "autoScaleFormula": STRING,
        "autoScaleEvaluationInterval": DURATION,
    }
)
POOL_PATCH = _record(_POOL_SETTINGS)
POOL_PROPERTIES = _record(
    {
        "startTask": START_TASK,
        "metadata": METADATA,
        "applicationPackageReferences": ListOf(ANY_RECORD),
        "certificateReferences": ListOf(ANY_RECORD),
    }
)
POOL_RESIZE = _record({**_POOL_SIZE, "nodeDeallocationOption": STRING})
POOL_ENABLE_AUTOSCALE = _record(
    {"autoScaleFormula": STRING, "autoScaleEvaluationInterval": DURATION}
)
POOL_EVALUATE_AUTOSCALE = _record({"autoScaleFormula": STRING})
POOL_REMOVE_NODES = _record(
    {"nodeList": ListOf(STRING), "nodeDeallocationOption": STRING, "resizeTimeout": DURATION}
)

NODE_REBOOT = _record({"nodeRebootOption": STRING})
NODE_REIMAGE = _record({"nodeReimageOption": STRING})
NODE_DISABLE_SCHEDULING = _record({"nodeDisableSchedulingOption": STRING})
_NODE_USER: dict[str, Shape] = {"password": STRING, "sshPublicKey": STRING, "expiryTime": STRING}
NODE_USER_ADD = _record({**_NODE_USER, "name": STRING, "isAdmin": BOOL})
NODE_USER_UPDATE = _record(_NODE_USER)

JOB_CONSTRAINTS = _record({"maxWallClockTime": DURATION, "maxTaskRetryCount": INT_OPTION})
POOL_INFO = _record({"poolId": STRING, "autoPoolSpecification": ANY_RECORD})
JOB_PREPARATION = _record(
    {
        **_COMMON_TASK,
        "id": STRING,
        "constraints": TASK_CONSTRAINTS,
        "waitForSuccess": BOOL,
        "rerunOnNodeRebootAfterSuccess": BOOL,
    },
    "commandLine",
)
JOB_RELEASE = _record(
    {**_COMMON_TASK, "id": STRING, "maxWallClockTime": DURATION, "retentionTime": DURATION},
    "commandLine",
)
_JOB_SETTINGS: dict[str, Shape] = {
    "priority": INT_OPTION,
    "allowTaskPreemption": BOOL_OPTION,
    "maxParallelTasks": INT_OPTION,
    "constraints": JOB_CONSTRAINTS,
    "poolInfo": POOL_INFO,
    "onAllTasksComplete": STRING,
    "metadata": METADATA,
}
JOB_ADD = _record(
    {
        **_JOB_SETTINGS,
        "id": STRING,
        "displayName": STRING,
        "usesTaskDependencies": BOOL,
        "onTaskFailure": STRING,
        "jobManagerTask": ANY_RECORD,
        "jobPreparationTask": JOB_PREPARATION,
        "jobReleaseTask": JOB_RELEASE,
        "commonEnvironmentSettings": ENVIRONMENT,
    }
)
JOB_UPDATE = _record(_JOB_SETTINGS)  # PATCH (what it sends) and PUT (all of it) alike
JOB_DISABLE = _record({"disableTasks": STRING})
JOB_TERMINATE = _record({"terminateReason": STRING})

EXIT_OPTIONS = _record({"jobAction": STRING, "dependencyAction": STRING})
_RANGE: dict[str, Shape] = {"start": INT, "end": INT}
EXIT_CONDITIONS = _record(
    {
        "exitCodes": ListOf(_record({"code": INT, "exitOptions": EXIT_OPTIONS}, "code")),
        "exitCodeRanges": ListOf(_record({**_RANGE, "exitOptions": EXIT_OPTIONS}, "start", "end")),
        "preProcessingError": EXIT_OPTIONS,
        "fileUploadError": EXIT_OPTIONS,
        "default": EXIT_OPTIONS,
    }
)
OUTPUT_FILE = _record(
    {
        "filePattern": STRING,
        "destination": _record(
            {
                "container": _record(
                    {
                        "path": STRING,
                        "containerUrl": STRING,
                        "uploadHeaders": ListOf(NAME_VALUE),
                        "identityReference": ANY_RECORD,
                    },
                    "containerUrl",
                )
            }
        ),
        "uploadOptions": _record({"uploadCondition": STRING}),
    },
    "filePattern",
)
DEPENDENCIES = _record(
    {"taskIds": ListOf(STRING), "taskIdRanges": ListOf(_record(_RANGE, "start", "end"))}
)
TASK_ADD = _record(
    {
        **_COMMON_TASK,
        "id": STRING,
        "displayName": STRING,
        "exitConditions": EXIT_CONDITIONS,
        "outputFiles": ListOf(OUTPUT_FILE),
        "affinityInfo": _record({"affinityId": STRING}),
        "constraints": TASK_CONSTRAINTS,
        "requiredSlots": INT,
        "multiInstanceSettings": ANY_RECORD,
        "dependsOn": DEPENDENCIES,
        "applicationPackageReferences": ListOf(ANY_RECORD),
    }
)
TASK_COLLECTION = _record({"value": ListOf(TASK_ADD)})
TASK_UPDATE = _record({"constraints": TASK_CONSTRAINTS})
NO_BODY = ANY_RECORD  # operations without a body: an object, if one is sent, is ignored
