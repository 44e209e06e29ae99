"""/api/cache: the caching policy, as the open-source edition answers it (content-facts.md §8).

* ``GET /api/cache`` (``model=root`` by default) -> ``{"data": [{model, model_id, strategy}]}``
  (``{"data": []}`` without a root policy); another ``model`` -> 402 "Granular Caching";
* ``PUT /api/cache`` ``{model, model_id, strategy}``: a root policy (``model_id`` 0) with an OSS
  strategy (``{"type": "nocache"}`` or the closed ``{"type": "ttl", "multiplier": pos-int,
  "min_duration_ms": int >= 0}``) -> 200 ``{"id"}`` (one row per model and id);
  ``duration`` / ``schedule`` -> **400** from request validation (not the 402); a non-root model
  with a valid strategy -> 402 "Granular Caching ..."; root with ``model_id`` other than 0 -> 404
  JSON "Root configuration is only valid with model_id = 0";
* ``DELETE /api/cache`` ``{model, model_id: [..]}`` -> 204;
* ``POST /api/cache/invalidate`` -> 402 (paid).
"""

from __future__ import annotations

from psycopg2.extras import Json

from double import auth
from double.routes.people import _premium
from double.web import Request, Response, Router

MODELS = ("root", "database", "dashboard", "question")
STRATEGY_ERROR = (
    "value must be a map with schema: (\n  type (optional) : one of: nocache, ttl\n  ...\n), "
    "or the strategy must be one of the open-source edition's: nocache, ttl."
)


def register(router: Router) -> None:
    router.route("GET", "/api/cache")(get_policies)
    router.route("PUT", "/api/cache")(put_policy)
    router.route("DELETE", "/api/cache")(delete_policies)
    router.route("POST", "/api/cache/invalidate")(invalidate)


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _oss_strategy(strategy: object) -> bool:
    if not isinstance(strategy, dict):
        return False
    if strategy.get("type") == "nocache":
        return True
    if strategy.get("type") == "ttl":
        return (
            set(strategy) == {"type", "multiplier", "min_duration_ms"}
            and _int(strategy["multiplier"])
            and strategy["multiplier"] >= 1
            and _int(strategy["min_duration_ms"])
            and strategy["min_duration_ms"] >= 0
        )
    return False


def _validation(errors: dict) -> Response:
    return Response.json({"errors": errors, "specific-errors": {k: [v] for k, v in errors.items()}}, 400)


def get_policies(request: Request) -> Response:
    auth.require_superuser(request)
    model = request.arg("model") or "root"
    if model != "root":
        return _premium("Granular Caching")
    with request.app.db.transaction() as cur:
        cur.execute("SELECT model, model_id, strategy FROM cache_config WHERE model = 'root'")
        rows = [{"model": m, "model_id": i, "strategy": s} for m, i, s in cur.fetchall()]
    return Response.json({"data": rows})


def put_policy(request: Request) -> Response:
    auth.require_superuser(request)
    body = request.json()
    body = body if isinstance(body, dict) else {}
    errors = {}
    if body.get("model") not in MODELS:
        errors["model"] = "enum of root, database, dashboard, question"
    if not (_int(body.get("model_id")) and body["model_id"] >= 0):
        errors["model_id"] = "value must be an integer greater or equal to than zero."
    if not _oss_strategy(body.get("strategy")):
        errors["strategy"] = STRATEGY_ERROR
    if errors:
        return _validation(errors)
    if body["model"] != "root":
        return _premium("Granular Caching")
    if body["model_id"] != 0:
        message = "Root configuration is only valid with model_id = 0"
        return Response.json({"message": message, "model_id": body["model_id"]}, 404)
    with request.app.db.transaction() as cur:
        cur.execute(
            "INSERT INTO cache_config (model, model_id, strategy) VALUES ('root', 0, %s)"
            " ON CONFLICT (model, model_id) DO UPDATE SET strategy = EXCLUDED.strategy RETURNING id",
            (Json(body["strategy"]),),
        )
        return Response.json({"id": cur.fetchone()[0]})


def delete_policies(request: Request) -> Response:
    auth.require_superuser(request)
    body = request.json()
    body = body if isinstance(body, dict) else {}
    ids = body.get("model_id")
    if body.get("model") not in MODELS or not isinstance(ids, list):
        return _validation({"model": "enum of root, database, dashboard, question", "model_id": "sequence of int"})
    if body["model"] != "root":
        return _premium("Granular Caching")
    with request.app.db.transaction() as cur:
        cur.execute("DELETE FROM cache_config WHERE model = 'root' AND model_id = ANY (%s)", (ids,))
    return Response.empty(204)


def invalidate(request: Request) -> Response:
    auth.require_superuser(request)
    return _premium("Cache invalidation")
