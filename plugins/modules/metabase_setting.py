#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_setting
short_description: Set one Metabase admin setting by key
version_added: 0.3.0
description:
  - Sets one setting (for example V(enable-public-sharing), V(anon-tracking-enabled),
    V(check-for-updates), V(enable-embedding-static)) through C(PUT /api/setting/{key}) when its
    current value differs.
  - The current value is read from C(GET /api/setting/), where Metabase shows C(null) for a value
    that equals the default; the module compares with the default in that case.
  - A key that an environment variable sets (C(MB_...)) is refused with a message naming the
    variable, because Metabase would store the new value and keep answering the environment's one.
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
      - In check mode the module reads the settings but never writes.
options:
  key:
    description: The setting's key, as in C(GET /api/setting/) (for example V(enable-public-sharing)).
    type: str
    required: true
  value:
    description:
      - The wanted value (booleans, strings, numbers or JSON objects as the setting takes them).
      - V(null) (or omitting it) resets the setting to Metabase's default.
    type: raw
notes:
  - Settings of paid editions (for example C(enable-password-login)) fail with Metabase's message.
  - V(site-url) is compared the way Metabase stores it (no trailing C(/), a scheme).
seealso:
  - module: cronicorn.monitoring.metabase_cache
"""

EXAMPLES = r"""
- name: No public links
  cronicorn.monitoring.metabase_setting:
    url: http://127.0.0.1:3030
    api_key: "{{ vault_metabase_api_key }}"
    key: enable-public-sharing
    value: false
"""

RETURN = r"""
setting:
  description: The key, the effective value after the run (predicted in check mode) and whether it is the default.
  returned: always
  type: dict
  sample: {key: enable-public-sharing, value: false, is_default: false}
diff:
  description: The value before and after.
  returned: when diff mode is on
  type: dict
  sample: {before: {value: true}, after: {value: false}}
"""

from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_access import (  # noqa: E402
    effective_setting,
    normalize_setting_value,
    same_setting_value,
)
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase_resource import (  # noqa: E402
    Change,
    MetabaseModule,
    ResourceError,
    unknown_name_error,
)


def run(ctx):
    key = ctx.params["key"]
    listed = ctx.client.request("GET", "/api/setting/")
    if not isinstance(listed, list):
        raise ResourceError("GET /api/setting/ answered something other than a list of settings.")
    items = dict((s.get("key"), s) for s in listed if isinstance(s, dict))
    item = items.get(key)
    if item is None:
        raise unknown_name_error("setting", key, list(items))
    if item.get("is_env_setting"):
        raise ResourceError(
            "The setting %r is set by the environment variable %s; Metabase would store a new value but keep "
            "answering the environment's. Hint: change %s where the container is configured (the metabase role), "
            "or stop managing it here." % (key, item.get("env_name"), item.get("env_name"))
        )
    wanted = normalize_setting_value(key, ctx.params.get("value"))
    reset = wanted is None
    current = effective_setting(item)
    if reset:
        differs = item.get("value") is not None
        after_value = item.get("default")
    else:
        differs = not same_setting_value(current, wanted)
        after_value = wanted
    change = Change("update" if differs else "none", item, dict(value=current), dict(value=after_value))
    change.header = "setting %s" % key
    if differs and not ctx.check_mode:
        ctx.client.request("PUT", "/api/setting/%s" % key, body=dict(value=wanted))
    ctx.changes.append(change)
    ctx.result["setting"] = dict(
        key=key,
        value=after_value,
        is_default=reset or (not differs and item.get("value") is None),
    )
    if ctx.diff_mode:
        ctx.result["diff"] = change.diff


def main():
    argument_spec = dict(key=dict(type="str", required=True, no_log=False), value=dict(type="raw"))
    MetabaseModule(argument_spec).run(run)


if __name__ == "__main__":
    main()
