"""The REST handlers for a pool's autoscale: `enableautoscale`, `disableautoscale`,
`evaluateautoscale`, and the autoscale properties of a pool's creation. The evaluation
itself is `autoscaling`'s; the formula language is `autoscale`'s.

As on Batch: a formula is checked before anything changes (400 with the formula's error
code: `AutoScalingFormulaSyntaxError`, `AutoScaleFormulaTooLong`); the interval is 5
minutes to 168 hours (`BWF_LOCALBATCH_AUTOSCALE_MIN_INTERVAL` lowers the minimum);
autoscale cannot be enabled while the pool resizes (409 `PoolBeingResized`); a pool
with autoscale takes no `resize` and no fixed targets; `evaluateautoscale` evaluates a
formula on the pool's samples without applying it, and answers its errors in the
`AutoScaleRun` it returns, with 200.
"""

from __future__ import annotations

from runner.localbatch import autoscale, conditional, fields, shapes
from runner.localbatch.autoscaling import DEFAULT_INTERVAL, AutoscaleSettings, run_body
from runner.localbatch.errors import ApiError, invalid
from runner.localbatch.resources import Resources, Route, route
from runner.localbatch.rest import Request, Response
from runner.localbatch.shapes import accepts
from runner.localbatch.store import Obj, touch

POOL = r"pools/([^/]+)"
INVALID_STATE = "OperationInvalidForCurrentState"


def check_formula(formula: str) -> None:
    """Batch's 400 for a formula that does not compile."""
    error = autoscale.validate(formula)
    if error is not None:
        raise ApiError(400, error.code, error.message, dict(error.values))


def _interval(body: fields.Body, settings: AutoscaleSettings, default: str) -> str:
    text = fields.text(body, "autoScaleEvaluationInterval", default) or default
    problem = settings.interval_problem(text)
    if problem is not None:
        raise invalid("autoScaleEvaluationInterval", text, problem)
    return text


def autoscale_on_create(body: fields.Body, settings: AutoscaleSettings) -> tuple[str, str] | None:
    """The formula and interval of a pool created with autoscale, checked; None for a
    pool of fixed size (which may not carry a formula)."""
    if not fields.boolean(body, "enableAutoScale", False):
        if body.get("autoScaleFormula") is not None:
            raise invalid(
                "autoScaleFormula",
                body["autoScaleFormula"],
                "autoScaleFormula must not be specified when enableAutoScale is false.",
            )
        return None
    for key in ("targetDedicatedNodes", "targetLowPriorityNodes"):
        if body.get(key) is not None:
            why = f"{key} must not be specified when enableAutoScale is true."
            raise invalid(key, body[key], why)
    formula = fields.text(body, "autoScaleFormula", required=True) or ""
    check_formula(formula)
    return formula, _interval(body, settings, DEFAULT_INTERVAL)


def refuse_if_autoscaled(pool: Obj) -> None:
    """Batch's 409 for a resize of a pool that autoscales."""
    if pool.get("enableAutoScale"):
        raise ApiError(
            409,
            INVALID_STATE,
            "The pool has automatic scaling enabled: its size follows its formula. "
            "Disable autoscale (disableautoscale) to resize it.",
        )


class AutoScaleApi:
    def __init__(self, resources: Resources) -> None:
        self.res = resources
        self.store = resources.store
        self.autoscaler = resources.scheduler.autoscaler

    def routes(self) -> list[Route]:
        return [
            route("POST", POOL + "/enableautoscale", self.enable),
            route("POST", POOL + "/disableautoscale", self.disable),
            route("POST", POOL + "/evaluateautoscale", self.evaluate),
        ]

    def _pool(self, req: Request, pool_id: str) -> Obj:
        pool = self.res.pool(pool_id)
        conditional.check(req, pool)
        if pool["state"] == "deleting":
            raise ApiError(
                409,
                "PoolBeingDeleted",
                "The specified pool has been marked for deletion and is being reclaimed.",
            )
        return pool

    def _changed(self, pool: Obj) -> Response:
        touch(pool)
        self.store.save("pool", pool["id"].lower(), pool)
        return self.res.updated(pool)

    @accepts(shapes.POOL_ENABLE_AUTOSCALE)
    def enable(self, req: Request, pool_id: str) -> Response:
        """A formula is required unless the pool already autoscales; a new one, or a new
        interval, is evaluated at once and starts a new schedule."""
        pool = self._pool(req, pool_id)
        body = req.json()
        if pool.get("allocationState") != "steady":
            raise ApiError(409, "PoolBeingResized", "The specified pool is being resized.")
        enabled = bool(pool.get("enableAutoScale"))
        formula = fields.text(body, "autoScaleFormula", required=not enabled)
        formula = formula or str(pool.get("autoScaleFormula") or "")
        check_formula(formula)
        current = str(pool.get("autoScaleEvaluationInterval") or DEFAULT_INTERVAL)
        interval = _interval(body, self.autoscaler.settings, current)
        self.autoscaler.enable(pool_id.lower(), pool, formula, interval)
        return self._changed(pool)

    @accepts(shapes.NO_BODY)
    def disable(self, req: Request, pool_id: str) -> Response:
        pool = self._pool(req, pool_id)
        self.autoscaler.disable(pool_id.lower(), pool)
        return self._changed(pool)

    @accepts(shapes.POOL_EVALUATE_AUTOSCALE)
    def evaluate(self, req: Request, pool_id: str) -> Response:
        pool = self._pool(req, pool_id)
        formula = fields.text(req.json(), "autoScaleFormula", required=True) or ""
        if not pool.get("enableAutoScale"):
            raise ApiError(
                409,
                INVALID_STATE,
                "The pool does not have automatic scaling enabled: a formula is evaluated "
                "only on a pool that autoscales.",
            )
        result = self.autoscaler.evaluate(pool_id.lower(), pool, formula)
        body = {
            "odata.metadata": f"{self.res.base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun"
        }
        body.update(run_body(result))
        return Response(200, body, {"DataServiceId": pool["url"]})
