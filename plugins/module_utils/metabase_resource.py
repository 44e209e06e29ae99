# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The resource layer of the Metabase content modules, above the one client.

A resource module (collection, card, dashboard, ...) is thin on top of it:

* :class:`MetabaseModule` builds the ``AnsibleModule`` with the shared options, the client and a
  :class:`Lookup`; ``run()`` calls the module's function, logs a password session out at the end
  (in a ``finally``), and turns :class:`ResourceError` / :class:`MetabaseError` into ``fail_json``.
* :class:`Lookup` finds objects by their natural key (collection path + name), reading each list once
  per run and keeping it: the collection tree, the items of a collection, the databases.
* :class:`Resource` is one kind of object: its API path and the explicit tuple of compared ``keys``.
  A subclass only says how to ``normalize`` what Metabase returns into those keys and how to build
  the create and update bodies; :meth:`Resource.ensure` does the rest: compare, create / update only
  the keys that differ / archive, check mode (nothing written), and a :class:`Change` that carries
  the before/after of the compared keys (secrets masked) and the object.

Nothing here knows about a particular resource: MBQL, dashcards or collection paths beyond the
natural key live in their own module_utils files or in the modules.
"""

from __future__ import annotations

import copy
import difflib
from typing import ClassVar

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import (
    MASK,
    MetabaseClient,
    MetabaseError,
    metabase_argument_spec,
)

#: The separator of collection paths (``Cronicorn Admin/Operations``).
PATH_SEPARATOR = "/"

#: What a collection path that names the root collection ("Our analytics") looks like.
ROOT_PATHS = ("", "/", None)


class ResourceError(Exception):
    """A problem with the options or with what Metabase holds, reported as it is (no secrets)."""


def close_matches(name, candidates, limit=5):
    """Up to ``limit`` candidates close to ``name`` (difflib), best first, for error messages."""
    candidates = sorted(set(str(c) for c in candidates if c is not None))
    found = difflib.get_close_matches(str(name), candidates, n=limit, cutoff=0.6)
    if not found:
        lowered = str(name).lower()
        found = [c for c in candidates if lowered in c.lower() or c.lower() in lowered][:limit]
    return found


def unknown_name_error(kind, name, candidates, where=""):
    """A :class:`ResourceError` naming the unknown ``name`` and listing close matches."""
    matches = close_matches(name, candidates)
    text = "Unknown %s %r%s." % (kind, name, where)
    if matches:
        text += " Close matches: %s." % ", ".join(repr(m) for m in matches)
    elif candidates:
        listed = sorted(set(str(c) for c in candidates))
        text += " Known: %s%s." % (", ".join(repr(c) for c in listed[:10]), ", ..." if len(listed) > 10 else "")
    return ResourceError(text)


def split_path(path):
    """``"A/B/C"`` -> ``["A", "B", "C"]``; the root (``None``, ``""``, ``"/"``) -> ``[]``."""
    if path in ROOT_PATHS:
        return []
    parts = [part.strip() for part in str(path).strip().strip(PATH_SEPARATOR).split(PATH_SEPARATOR)]
    if any(not part for part in parts):
        raise ResourceError("Collection path %r has an empty part." % path)
    return parts


def join_path(parts):
    return PATH_SEPARATOR.join(parts)


def mask_secrets(values, secret_keys):
    """A copy of ``values`` with the value of every key in ``secret_keys`` masked."""
    return dict((key, MASK if key in secret_keys and value is not None else value) for key, value in values.items())


def plan(before, wanted, keys):
    """The compared keys whose wanted value differs from ``before``, in ``keys`` order.

    ``wanted`` values of ``None`` mean "not managed" and are never compared.
    """
    return [key for key in keys if wanted.get(key) is not None and wanted.get(key) != before.get(key)]


class Change:
    """The outcome of :meth:`Resource.ensure`."""

    def __init__(self, action, obj, before, after, differing=()):
        #: ``none``, ``create``, ``update`` or ``archive``.
        self.action = action
        #: The object as Metabase holds it after the run (predicted in check mode); ``None`` when absent.
        self.obj = obj
        #: Compared keys before and after (secrets already masked).
        self.before = before
        self.after = after
        #: The compared keys that differed.
        self.differing = list(differing)
        #: What the object is, for the diff header (``card Total Users``).
        self.header = None

    @property
    def changed(self):
        return self.action != "none"

    @property
    def diff(self):
        diff = dict(before=self.before, after=self.after)
        if self.header:
            diff.update(before_header=self.header, after_header=self.header)
        return diff


class Lookup:
    """Cached reads by natural key, for one module run. Every list is read at most once."""

    def __init__(self, client):
        self.client = client
        self._collections = None
        self._items = {}
        self._databases = None

    # -- collections -----------------------------------------------------------------------------

    def collections(self):
        """Every collection that is not archived, personal or the Trash, from ``GET /api/collection/``."""
        if self._collections is None:
            answer = self.client.request("GET", "/api/collection/")
            if not isinstance(answer, list):
                raise ResourceError("GET /api/collection/ answered something other than a list.")
            self._collections = [
                c
                for c in answer
                if isinstance(c, dict)
                and isinstance(c.get("id"), int)
                and not c.get("archived")
                and c.get("personal_owner_id") is None
                and c.get("namespace") in (None, "")
                and c.get("type") != "trash"
            ]
        return self._collections

    def forget_collections(self):
        self._collections = None

    @staticmethod
    def parent_location(collection):
        return collection.get("location") or "/"

    def children(self, parent_id):
        """The (non-archived, non-personal) collections directly under ``parent_id`` (``None``: root)."""
        location = "/" if parent_id is None else None
        found = []
        for c in self.collections():
            loc = self.parent_location(c)
            if location is not None:
                if loc == "/":
                    found.append(c)
            elif loc.rstrip("/").split("/")[-1] == str(parent_id):
                found.append(c)
        return found

    def find_collection(self, path):
        """``(collection or None, missing parts)`` for a path; the root gives ``({"id": None}, [])``.

        Walks the path from the top; stops at the first missing part and returns the deepest
        existing collection with the parts still to create. Two collections with the same name
        under one parent fail: the module cannot tell which one is meant.
        """
        parts = split_path(path)
        current = {"id": None, "name": "Our analytics", "path": ""}
        for index, part in enumerate(parts):
            named = [c for c in self.children(current["id"]) if c.get("name") == part]
            if len(named) > 1:
                raise ResourceError(
                    "Metabase has %d collections named %r under %r (ids %s); the module cannot tell which one "
                    "is meant. Hint: rename or archive the duplicates."
                    % (len(named), part, current.get("path") or "Our analytics", ", ".join(str(c["id"]) for c in named))
                )
            if not named:
                return current, parts[index:]
            current = dict(named[0], path=join_path(parts[: index + 1]))
        return current, []

    def collection_id(self, path, what="collection"):
        """The id of an existing collection (``None`` for the root); fails naming close matches."""
        found, missing = self.find_collection(path)
        if missing:
            siblings = [c.get("name") for c in self.children(found["id"])]
            where = " under %r" % found["path"] if found.get("path") else " at the top level"
            raise unknown_name_error(what, missing[0], siblings, where)
        return found["id"]

    def collection_path(self, collection_id):
        """The path of a collection id (``""`` for the root, ``None`` when unknown or archived)."""
        if collection_id in (None, "root"):
            return ""
        by_id = dict((c["id"], c) for c in self.collections())
        collection = by_id.get(collection_id)
        if collection is None:
            return None
        names = []
        for ancestor in [p for p in self.parent_location(collection).split("/") if p]:
            parent = by_id.get(int(ancestor))
            if parent is None:
                return None
            names.append(parent["name"])
        names.append(collection["name"])
        return join_path(names)

    def remember_collection(self, collection):
        """Add a collection created during this run to the cached tree."""
        if self._collections is not None and isinstance(collection, dict):
            self._collections.append(collection)

    # -- items of a collection -------------------------------------------------------------------

    def items(self, collection_id):
        """The non-archived items of a collection (root for ``None``), read once."""
        if collection_id is None:
            key, path = "root", "/api/collection/root/items"
        else:
            key, path = collection_id, "/api/collection/%d/items" % collection_id
        if key not in self._items:
            if collection_id is not None and collection_id < 0:
                self._items[key] = []  # a collection that check mode would create holds nothing yet
            else:
                answer = self.client.request("GET", path)
                if isinstance(answer, dict):
                    answer = answer.get("data")
                if not isinstance(answer, list):
                    raise ResourceError("GET %s answered something other than a list of items." % path)
                self._items[key] = [i for i in answer if isinstance(i, dict) and not i.get("archived")]
        return self._items[key]

    def find_item(self, collection_id, name, models):
        """The one item named ``name`` of a model in ``models`` in a collection; ``None`` if none."""
        named = [i for i in self.items(collection_id) if i.get("model") in models and i.get("name") == name]
        if len(named) > 1:
            raise ResourceError(
                "The collection holds %d %ss named %r (ids %s); the module cannot tell which one is meant. "
                "Hint: rename or archive the duplicates."
                % (len(named), models[0], name, ", ".join(str(i.get("id")) for i in named))
            )
        return named[0] if named else None

    def item_names(self, collection_id, models):
        return [i.get("name") for i in self.items(collection_id) if i.get("model") in models]

    def remember_item(self, collection_id, item):
        key = "root" if collection_id is None else collection_id
        if key in self._items:
            self._items[key].append(item)

    # -- databases -------------------------------------------------------------------------------

    def databases(self):
        if self._databases is None:
            self._databases = self.client.list_databases()
        return self._databases

    def database(self, name):
        """The database registered under the display name ``name``."""
        named = [d for d in self.databases() if isinstance(d, dict) and d.get("name") == name]
        if not named:
            raise unknown_name_error("database", name, [d.get("name") for d in self.databases()])
        if len(named) > 1:
            raise ResourceError(
                "Metabase has %d databases named %r (ids %s). Hint: rename one of them."
                % (len(named), name, ", ".join(str(d.get("id")) for d in named))
            )
        return named[0]

    def database_name(self, database_id):
        for database in self.databases():
            if isinstance(database, dict) and database.get("id") == database_id:
                return database.get("name")
        return None


class Resource:
    """One kind of Metabase object. Subclasses set ``kind``, ``api`` and ``keys`` and implement
    :meth:`normalize` and :meth:`create_body`; the rest is shared.

    ``keys`` is the explicit tuple of compared keys: nothing else of what Metabase returns is ever
    compared. ``secret_keys`` are masked in every diff.
    """

    kind = "object"
    api = None
    keys = ()
    secret_keys = ()
    #: The body of the PUT that archives (moves to the Trash).
    archive_body: ClassVar[dict] = {"archived": True}
    hints: ClassVar[dict] = {}

    def __init__(self, client, lookup, check_mode=False):
        self.client = client
        self.lookup = lookup
        self.check_mode = check_mode
        self._predicted_ids = -1

    # -- to implement ----------------------------------------------------------------------------

    def normalize(self, obj):
        """The compared keys of an object as Metabase returns it."""
        raise NotImplementedError

    def create_body(self, wanted):
        """The body of ``POST`` for the wanted compared keys."""
        raise NotImplementedError

    def update_body(self, wanted, differing, current):
        """The body of ``PUT`` with only the keys that differ (override to map keys to API fields)."""
        return dict((key, wanted[key]) for key in differing)

    # -- shared ----------------------------------------------------------------------------------

    def item_path(self, obj_id):
        return "%s%d" % (self.api, obj_id)

    def read(self, obj_id, query=None):
        return self.client.request("GET", self.item_path(obj_id), query=query, hints=self.hints)

    def shown(self, values):
        return mask_secrets(values, self.secret_keys)

    def next_predicted_id(self):
        """A negative id for an object that check mode would create."""
        value = self._predicted_ids
        self._predicted_ids -= 1
        return value

    def predict(self, current, wanted, body):
        """What Metabase will hold after the write (check mode): the current object with the body."""
        predicted = copy.deepcopy(current) if current else {"id": self.next_predicted_id()}
        predicted.update(copy.deepcopy(body))
        return predicted

    def archive(self, current):
        """Archive ``current`` (PUT ``archive_body``); nothing to do when it does not exist."""
        if not current:
            return Change("none", None, {}, {})
        before = self.shown(self.normalize(current))
        if not self.check_mode:
            self.client.request("PUT", self.item_path(current["id"]), body=dict(self.archive_body), hints=self.hints)
        return Change("archive", None, before, {})

    def create(self, wanted):
        """Create the object (check mode: predict it). Returns a :class:`Change`."""
        shown_keys = [key for key in self.keys if wanted.get(key) is not None]
        body = self.create_body(wanted)
        after = self.shown(dict((key, wanted[key]) for key in shown_keys))
        if self.check_mode:
            return Change("create", self.predict(None, wanted, body), {}, after, shown_keys)
        created = self.client.request("POST", self.api, body=body, idempotent=False, hints=self.hints)
        if not isinstance(created, dict) or not isinstance(created.get("id"), int):
            raise ResourceError("POST %s succeeded but the answer carries no %s id." % (self.api, self.kind))
        return Change("create", created, {}, after, shown_keys)

    def update(self, current, wanted):
        """Update only the compared keys that differ. Returns a :class:`Change`."""
        before = self.normalize(current)
        shown_keys = [key for key in self.keys if wanted.get(key) is not None]
        differing = plan(before, wanted, self.keys)
        shown_before = self.shown(dict((key, before.get(key)) for key in shown_keys))
        if not differing:
            return Change("none", current, shown_before, shown_before)
        after = dict(shown_before)
        after.update(self.shown(dict((key, wanted[key]) for key in differing)))
        body = self.update_body(wanted, differing, current)
        if self.check_mode:
            return Change("update", self.predict(current, wanted, body), shown_before, after, differing)
        updated = self.client.request("PUT", self.item_path(current["id"]), body=body, hints=self.hints)
        if not isinstance(updated, dict) or updated.get("id") != current["id"]:
            updated = self.predict(current, wanted, body)
        return Change("update", updated, shown_before, after, differing)

    def ensure(self, current, wanted, state="present"):
        """Create, update only what differs, or archive. Returns a :class:`Change`.

        ``current`` is the object as Metabase returns it (``None`` when none matches the natural key);
        ``wanted`` the compared keys the module wants (``None`` values are not managed).
        """
        if state == "absent":
            return self.archive(current)
        if not current:
            return self.create(wanted)
        return self.update(current, wanted)


def state_argument_spec():
    return dict(state=dict(type="str", choices=["present", "absent"], default="present"))


class MetabaseModule:
    """An ``AnsibleModule`` with the shared Metabase options, a client and a :class:`Lookup`.

    ``run(function)`` calls ``function(self)``, which returns the result dict; the module then logs
    a password session out and exits. Failures (:class:`ResourceError`, :class:`MetabaseError`)
    become ``fail_json`` with a message free of secrets; the session is logged out on every path.
    """

    def __init__(self, argument_spec, **kwargs):
        spec = metabase_argument_spec()
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        required_one_of = [*(kwargs.pop("required_one_of", None) or []), ("api_key", "username")]
        required_together = [*(kwargs.pop("required_together", None) or []), ("username", "password")]
        self.module = AnsibleModule(
            argument_spec=spec, required_one_of=required_one_of, required_together=required_together, **kwargs
        )
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.diff_mode = self.module._diff
        self.client = MetabaseClient.from_module(self.module)
        self.lookup = Lookup(self.client)
        #: The result so far; a failure part-way still reports what was already changed.
        self.result = dict(changed=False)
        #: Every :class:`Change` of the run, in order; ``changed`` is true when one of them is.
        self.changes = []

    def resource(self, cls, **kwargs):
        return cls(self.client, self.lookup, check_mode=self.check_mode, **kwargs)

    def warn(self, text):
        self.module.warn(self.client.redact(text))

    def _logout(self):
        """End the password session of this run (an API key has none); warnings, never a failure.

        ``MetabaseClient.from_module`` also logs out on exit; doing it here, in the ``finally`` of
        :meth:`run`, ends the session even when the module's function raises something unexpected.
        """
        for warning in self.client.logout():
            self.module.warn(warning)

    def run(self, function):
        """``function(self)`` fills ``self.result`` (or returns a dict to merge into it)."""
        failure = None
        try:
            returned = function(self)
            if returned:
                self.result.update(returned)
        except ResourceError as exc:
            failure = dict(msg=self.client.redact(str(exc)))
        except MetabaseError as exc:
            failure = dict(msg=exc.msg, status=exc.status)
        finally:
            self._logout()
        self.result["changed"] = bool(self.result.get("changed")) or any(c.changed for c in self.changes)
        if failure is not None:
            self.module.fail_json(**dict(self.result, **failure))
        self.module.exit_json(**self.result)
