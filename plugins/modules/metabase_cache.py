#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_cache
short_description: Set Metabase's query caching policy
version_added: 0.3.0
description:
  - Sets the caching policy of the whole instance (O(model=root)) or, on a paid edition, of one
    database, dashboard or question, through C(PUT /api/cache).
  - The open-source edition only offers the root policy with the adaptive (V(ttl)) strategy (results
    are kept for O(multiplier) times the query's average duration, for queries slower than
    O(min_duration_ms)) or V(nocache).
  - V(duration) (keep results for a fixed time, such as 15-30 minutes), V(schedule), and policies of
    a database, dashboard or question need a paid edition (Granular Caching). The module supports
    them, checks first whether the instance offers them (C(GET /api/cache?model=dashboard) answers
    402 when it does not, also in check mode), and fails with a message that says so.
author:
  - Cronicorn operations (@cronicorn)
extends_documentation_fragment:
  - cronicorn.monitoring.metabase
  - cronicorn.monitoring.metabase.actiongroup
  - ansible.builtin.action_common_attributes
  - cronicorn.monitoring.attributes
attributes:
  check_mode:
    details:
      - In check mode the module reads but never writes.
options:
  model:
    description: What the policy applies to.
    type: str
    choices: [root, database, dashboard, question]
    default: root
  model_id:
    description: Id of the database, dashboard or question; V(0) for the root.
    type: int
    default: 0
  strategy:
    description: The caching strategy.
    type: str
    choices: [ttl, nocache, duration, schedule]
    default: ttl
  multiplier:
    description: With V(ttl), results are kept for this many times the query's average duration.
    type: int
    default: 10
  min_duration_ms:
    description: With V(ttl), only queries that took longer than this many milliseconds are cached.
    type: int
    default: 1000
  duration:
    description: With V(duration) (paid), how long results are kept, in O(unit).
    type: int
    default: 30
  unit:
    description: Unit of O(duration).
    type: str
    choices: [hours, minutes, seconds, days]
    default: minutes
  schedule:
    description: With V(schedule) (paid), the cron expression (Quartz syntax) of the cache refresh.
    type: str
seealso:
  - module: cronicorn.monitoring.metabase_setting
"""

EXAMPLES = r"""
- name: Adaptive caching of slow queries (open-source edition)
  cronicorn.monitoring.metabase_cache:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    strategy: ttl
    multiplier: 10
    min_duration_ms: 1000

- name: Keep results 30 minutes (paid editions only; fails clearly on the open-source edition)
  cronicorn.monitoring.metabase_cache:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    strategy: duration
    duration: 30
    unit: minutes
"""

RETURN = r"""
policy:
  description: The policy after the run (predicted in check mode).
  returned: always
  type: dict
  sample: {model: root, model_id: 0, strategy: {type: ttl, multiplier: 10, min_duration_ms: 1000}}
diff:
  description: The strategy before and after.
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import MetabaseError  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import (  # noqa: E402
    PAID_CACHE,
    cache_strategy,
    granular_caching_available,
    needs_paid_cache,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    Change,
    MetabaseModule,
    ResourceError,
)

COMPARED = ("type", "multiplier", "min_duration_ms", "duration", "unit", "schedule")


def _compared(strategy):
    return dict((k, strategy[k]) for k in COMPARED if isinstance(strategy, dict) and k in strategy)


def run(ctx):
    params = ctx.params
    model, model_id = params["model"], params["model_id"]
    if model == "root" and model_id != 0:
        raise ResourceError("The root policy has model_id 0.")
    if params["strategy"] == "schedule" and not params.get("schedule"):
        raise ResourceError("strategy=schedule needs schedule (a cron expression).")
    strategy = cache_strategy(params)
    paid = needs_paid_cache(model, strategy)
    if paid and not granular_caching_available(ctx.client):
        raise ResourceError(PAID_CACHE + " (asked: model %s, strategy %s)." % (model, strategy["type"]))
    query = dict(model=model) if model == "root" else dict(model=model, id=model_id)
    answer = ctx.client.request("GET", "/api/cache/", query=query)
    rows = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(rows, list):
        raise ResourceError("GET /api/cache/ answered something other than {data: [...]}.")
    current = next((r for r in rows if r.get("model") == model and r.get("model_id") == model_id), None)
    before = _compared(current.get("strategy")) if current else {}
    after = _compared(strategy)
    change = Change("update" if before != after else "none", current, before, after)
    change.header = "cache policy of %s %d" % (model, model_id)
    if change.changed and not ctx.check_mode:
        try:
            ctx.client.request("PUT", "/api/cache/", body=dict(model=model, model_id=model_id, strategy=strategy))
        except MetabaseError as exc:
            if exc.status in (400, 402) and paid:
                raise ResourceError("%s. Metabase answered: %s" % (PAID_CACHE, exc.msg)) from None
            raise
    ctx.changes.append(change)
    ctx.result["policy"] = dict(model=model, model_id=model_id, strategy=strategy)
    if ctx.diff_mode:
        ctx.result["diff"] = change.diff


def main():
    argument_spec = dict(
        model=dict(type="str", choices=["root", "database", "dashboard", "question"], default="root"),
        model_id=dict(type="int", default=0),
        strategy=dict(type="str", choices=["ttl", "nocache", "duration", "schedule"], default="ttl"),
        multiplier=dict(type="int", default=10),
        min_duration_ms=dict(type="int", default=1000),
        duration=dict(type="int", default=30),
        unit=dict(type="str", choices=["hours", "minutes", "seconds", "days"], default="minutes"),
        schedule=dict(type="str"),
    )
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()
