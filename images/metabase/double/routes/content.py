"""The one route set every content resource (collections, cards, dashboards) is served by.

``Resource.register`` adds, under the resource's path (``/api/card``...):

* ``GET <path>/`` the list (``f=all|mine|archived``: not archived, created by the caller, archived),
* ``POST <path>/`` create (the resource's body rules, then ``insert``), answered with the object,
* ``GET <path>/{id}`` by id or 21-character entity id, 404 ``Not found.`` otherwise,
* ``PUT <path>/{id}`` a partial update: the ``plain`` keys present in the body (null written only for
  ``nullable`` ones), the ``json_keys`` that are not null; ``archived`` true/false archives or restores
  the way Metabase does for every archivable model (``updates-with-archived-directly``:
  ``archived_directly`` follows ``archived`` when it changes, and a ``collection_id`` sent along with
  ``archived: true`` is discarded; GET then shows the Trash as ``collection_id``),
* ``DELETE <path>/{id}`` a hard delete, 204.

A resource subclass declares its table, columns, body rules and keys, and overrides only what
Metabase does differently: ``insert`` (its create), ``prepare_update`` (checks and conversions of
a PUT body), ``after_update`` (e.g. a dashboard's dashcards), ``present`` (its JSON), ``listed``,
``before_delete`` and ``extra_routes`` (e.g. ``POST /api/card/{id}/query``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from psycopg2.extras import Json

from double import appdb, auth, content
from double.validation import Rule, validate
from double.web import Request, Response, Router, not_found


class Resource:
    path: ClassVar[str]
    table: ClassVar[str]
    columns: ClassVar[str]
    create_rules: ClassVar[dict[str, Rule]] = {}
    update_rules: ClassVar[dict[str, Rule]] = {}
    plain: ClassVar[tuple[str, ...]] = ()
    nullable: ClassVar[tuple[str, ...]] = ()
    json_keys: ClassVar[tuple[str, ...]] = ()
    archivable: ClassVar[bool] = True

    # -- routes --------------------------------------------------------------------------------

    def register(self, router: Router) -> None:
        router.route("GET", self.path)(self.list_route)
        router.route("POST", self.path)(self.create_route)
        self.extra_routes(router)  # fixed paths (/api/collection/root) before the {ident} templates
        router.route("GET", self.path + "/{ident}")(self.get_route)
        router.route("PUT", self.path + "/{ident}")(self.update_route)
        router.route("DELETE", self.path + "/{ident}")(self.delete_route)

    def list_route(self, request: Request) -> Response:
        user = auth.authenticate(request)
        with request.app.db.transaction() as cur:
            return Response.json(self.listed(request, cur, user))

    def create_route(self, request: Request) -> Response:
        user = auth.authenticate(request)
        body = validate(request.json(), **self.create_rules)
        with request.app.db.transaction() as cur:
            new_id = self.insert(request, cur, body, user)
            return Response.json(self.present(request, cur, self.load(cur, new_id), created=True))

    def get_route(self, request: Request, ident: str) -> Response:
        auth.authenticate(request)
        with request.app.db.transaction() as cur:
            return Response.json(self.present(request, cur, self.find(cur, ident)))

    def update_route(self, request: Request, ident: str) -> Response:
        auth.authenticate(request)
        body = validate(request.json(), **self.update_rules)
        with request.app.db.transaction() as cur:
            row = self.find(cur, ident)
            body = self.prepare_update(request, cur, row, body)
            self.write(cur, row, body)
            self.after_update(request, cur, row, body)
            return Response.json(self.present(request, cur, self.load(cur, row["id"])))

    def delete_route(self, request: Request, ident: str) -> Response:
        auth.authenticate(request)
        with request.app.db.transaction() as cur:
            row = self.find(cur, ident)
            self.before_delete(request, cur, row)
            cur.execute(f"DELETE FROM {self.table} WHERE id = %s", (row["id"],))  # noqa: S608 - class constant
        return Response.empty(204)

    # -- storage -------------------------------------------------------------------------------

    def load(self, cur, row_id: int) -> dict:
        cur.execute(f"SELECT {self.columns} FROM {self.table} WHERE id = %s", (row_id,))  # noqa: S608 - class constants
        row = appdb.one(cur)
        if row is None:
            raise not_found()
        return row

    def find(self, cur, ident: str) -> dict:
        row_id = content.lookup_id(cur, self.table, str(ident))
        if row_id is None:
            raise not_found()
        return self.load(cur, row_id)

    def all_rows(self, cur) -> list[dict]:
        cur.execute(f"SELECT {self.columns} FROM {self.table} ORDER BY lower(name), id")  # noqa: S608 - class constants
        return appdb.dicts(cur)

    def changes(self, row: Mapping, body: Mapping) -> dict[str, Any]:
        """The columns a PUT writes: present plain keys, non-null JSON keys, and the archive rule."""
        changes: dict[str, Any] = {
            key: body[key] for key in self.plain if key in body and (body[key] is not None or key in self.nullable)
        }
        for key in self.json_keys:
            if body.get(key) is not None:
                changes[key] = Json(body[key])
        if self.archivable and body.get("archived") is not None and body["archived"] != row["archived"]:
            changes["archived"] = body["archived"]
            changes["archived_directly"] = body["archived"]
            if body["archived"]:
                changes.pop("collection_id", None)
        return changes

    def write(self, cur, row: Mapping, body: Mapping) -> None:
        changes = self.changes(row, body)
        if changes:
            assignments = ", ".join(f"{key} = %s" for key in changes)
            stamp = ", updated_at = now()" if "updated_at" in self.columns else ""
            cur.execute(
                f"UPDATE {self.table} SET {assignments}{stamp} WHERE id = %s",  # noqa: S608 - declared column names
                [*changes.values(), row["id"]],
            )

    # -- what a resource overrides -------------------------------------------------------------

    def extra_routes(self, router: Router) -> None:
        """Routes only this resource has (registered before the ``{ident}`` templates)."""

    def insert(self, request: Request, cur, body: dict, user: Mapping) -> int:
        raise NotImplementedError

    def prepare_update(self, request: Request, cur, row: Mapping, body: dict) -> dict:
        """Checks and conversions of a PUT body before it is written."""
        return body

    def after_update(self, request: Request, cur, row: Mapping, body: Mapping) -> None:
        """What a PUT does beyond the row's columns."""

    def before_delete(self, request: Request, cur, row: Mapping) -> None:
        """Checks before a hard delete."""

    def present(self, request: Request, cur, row: Mapping, *, created: bool = False, listing: bool = False) -> dict:
        raise NotImplementedError

    def listed(self, request: Request, cur, user: Mapping) -> list[dict]:
        """``GET <path>/?f=``: all and mine (not archived), archived."""
        f = request.arg("f") or "all"
        rows = self.all_rows(cur)
        if f == "archived":
            rows = [r for r in rows if r["archived"]]
        else:
            rows = [r for r in rows if not r["archived"] and (f != "mine" or r["creator_id"] == user["id"])]
        return [self.present(request, cur, r, listing=True) for r in rows]
