"""Error names a step can fail with, and how retriers and catchers match them.

``States.ALL`` matches every error; ``States.TaskFailed`` matches every error a
target reports (anything but the ``States.*`` errors sedo raises itself, except
States.TaskFailed). Lambda errors keep the function's own ``errorType`` (so a
catcher can name ``PaymentDeclined``); HTTP targets fail as ``Http.<status>``.
"""

from __future__ import annotations

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"  # the target reported an error
TIMEOUT = "States.Timeout"  # timeoutSeconds elapsed (step or execution)
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"  # no heartbeat within heartbeatSeconds
PERMISSIONS = "States.Permissions"  # the target is not allowed, or access was denied
PAYLOAD_TOO_LARGE = "States.PayloadTooLarge"  # a payload or result over the size limit
BAD_EXPRESSION = "States.BadExpression"  # a JMESPath expression failed on the data
NO_CHOICE_MATCHED = "States.NoChoiceMatched"  # a choice with no match and no default
CALLBACK_FAILED = "States.CallbackFailed"  # a completion call reported failure without naming an error
ITEMS_FAILED = "States.ItemsFailed"  # more map iterations failed than tolerated
BRANCH_FAILED = "States.BranchFailed"  # a parallel branch failed
RUNTIME = "States.Runtime"  # anything else sedo itself could not do
ITEM_READER_FAILED = "States.ItemReaderFailed"  # a map's item source in S3 is missing or malformed
RESULT_WRITER_FAILED = "States.ResultWriterFailed"  # a map's results could not be written to S3

DOCUMENTED = {
    ALL: "matches every error",
    TASK_FAILED: "the target reported an error (matches every error not named States.*)",
    TIMEOUT: "the step's or the execution's timeoutSeconds elapsed",
    HEARTBEAT_TIMEOUT: "no heartbeat arrived within heartbeatSeconds",
    PERMISSIONS: "the target is not on the allow-list, or access was denied",
    PAYLOAD_TOO_LARGE: "a payload or a result is larger than sedo accepts",
    BAD_EXPRESSION: "a JMESPath expression failed on the data it was given",
    NO_CHOICE_MATCHED: "no choice matched and the step has no default",
    CALLBACK_FAILED: "a /fail completion call without an error name",
    ITEMS_FAILED: "more map iterations failed than the step tolerates",
    BRANCH_FAILED: "a parallel branch failed",
    RUNTIME: "sedo could not run the step",
    ITEM_READER_FAILED: "a map's itemReader object is missing, changed or malformed (the cause names the line)",
    RESULT_WRITER_FAILED: "a map's resultWriter could not write its results to S3",
}


def matches(names: list[str], error: str) -> bool:
    if ALL in names or error in names:
        return True
    return TASK_FAILED in names and not error.startswith("States.")
