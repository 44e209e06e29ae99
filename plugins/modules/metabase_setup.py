#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: metabase_setup
short_description: Complete the first-run setup of Metabase and verify the admin login
version_added: 0.1.0
description:
  - On a new Metabase instance, completes the first-run setup wizard through the REST API. It reads
    the setup token from C(GET /api/session/properties) and posts the first administrator and the
    site name to C(POST /api/setup/).
  - When setup is already done, it changes nothing. It checks that O(username) and O(password) log
    in (C(POST /api/session/)) and that the user is an administrator, and fails clearly if not.
  - Whether setup is done is read from C(has-user-setup), not from the presence of the setup token,
    which many Metabase versions keep publishing after setup.
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
      - In check mode the module does not wait for Metabase. When Metabase is not running (a dry run
        before it exists), it reports at once that setup would be done, with a warning.
      - In check mode the setup is not posted; the credentials of an existing admin are still
        checked, which opens a login session in Metabase (ended before the module exits) but
        changes no setting.
  diff_mode:
    details:
      - The diff shows whether setup is done, and the admin email and site name that setup sets.
      - Once setup is done, the diff shows the admin who logged in and Metabase's current site name;
        O(site_name) is not applied then, so before and after are the same.
options:
  username:
    description:
      - Email address of the first administrator to create, and to log in as once setup is done.
    type: str
    required: true
  password:
    description:
      - Password of the administrator.
      - Metabase refuses common passwords and applies C(MB_PASSWORD_COMPLEXITY) and C(MB_PASSWORD_LENGTH).
        Before setup, and in check mode too, the module asks Metabase whether it accepts the password
        (C(POST /api/session/password-check), which changes nothing) and fails with a clear message if not.
      - Only used to create the user; this module never changes the password of an existing user.
    type: str
    required: true
  api_key:
    description:
      - Ignored by this module. Setup and the verification of the admin always use O(username) and
        O(password). Accepted so that C(module_defaults) for the C(metabase) group can set it.
    type: str
  site_name:
    description:
      - Name of the Metabase site, set by setup. Not changed once setup is done.
    type: str
    required: true
  site_locale:
    description:
      - Language of the site, a two-letter ISO code or C(lang_COUNTRY), for example V(en) or V(en_US).
      - Only used by setup.
    type: str
  first_name:
    description:
      - First name of the administrator created by setup.
    type: str
  last_name:
    description:
      - Last name of the administrator created by setup.
    type: str
notes:
  - The setup token, the admin password and the session ids Metabase returns never appear in the
    results, the diff or error messages.
  - Every session the module opens (the login, and the session setup returns for the new admin)
    is ended with C(DELETE /api/session/) before the module exits; a logout that fails is a warning.
  - Setup can only run once. If another client completes it between the read and the post, the
    module fails with Metabase's 403 answer; run it again to verify the credentials.
seealso:
  - module: cronicorn.monitoring.metabase_database
  - name: Metabase API documentation
    description: Metabase's own description of its REST API.
    link: https://www.metabase.com/docs/latest/api
"""

EXAMPLES = r"""
- name: Set up Metabase, URL and admin login given once for the whole action group
  module_defaults:
    group/cronicorn.monitoring.metabase:
      url: http://127.0.0.1:3030
      username: admin@example.com
      password: "{{ vault_metabase_admin_password }}"
  block:
    - name: Complete the first-run setup (or verify the admin login)
      cronicorn.monitoring.metabase_setup:
        site_name: Cronicorn monitoring
        site_locale: en
        first_name: Cronicorn
        last_name: Admin
      register: metabase_setup_result

    - name: Say whether setup ran
      ansible.builtin.debug:
        msg: "Setup performed: {{ metabase_setup_result.setup_performed }}"

- name: Fail early when Metabase is not up after five minutes
  cronicorn.monitoring.metabase_setup:
    url: https://metabase.example.com
    username: admin@example.com
    password: "{{ vault_metabase_admin_password }}"
    site_name: Cronicorn monitoring
    wait_timeout: 300
"""

RETURN = r"""
setup_performed:
  description:
    - Whether this run completed the first-run setup (in check mode, whether it would).
  returned: always
  type: bool
  sample: true
metabase_version:
  description: Version tag reported by Metabase in its public session properties, when it reports one.
  returned: success
  type: str
  sample: v0.56.3
user:
  description:
    - The administrator the credentials log in as, when setup was already done.
  returned: when setup was already done
  type: dict
  sample:
    id: 1
    email: admin@example.com
    first_name: Cronicorn
    last_name: Admin
    is_superuser: true
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.cronicorn.monitoring.plugins.module_utils.metabase import (  # noqa: E402
    MetabaseClient,
    MetabaseError,
    dry_run_exit,
    is_login_throttled,
    metabase_argument_spec,
)

SETUP_HINTS = {
    400: "Metabase refused the setup data: the admin password must not be a common password and must "
    "satisfy MB_PASSWORD_COMPLEXITY and MB_PASSWORD_LENGTH, username must be a valid email address, "
    "and site_locale a code such as en or en_US",
    403: "setup was completed by someone else meanwhile; run the task again to verify the credentials",
}

LOGIN_HINTS = {
    401: "Metabase setup is already done, and these admin credentials do not log in; use the "
    "credentials of the existing administrator (this module never changes a password); do not retry in "
    "a loop: Metabase locks a username out after 10 failed logins within an hour",
}


def setup_needed(properties):
    """Whether first-run setup is still to be done, from ``GET /api/session/properties``."""
    has_user_setup = properties.get("has-user-setup")
    if isinstance(has_user_setup, bool):
        return not has_user_setup
    # Very old versions lack the flag; a setup token alone does not mean setup is needed
    # (many versions keep publishing it afterwards), so only trust it when there is no flag at all.
    return bool(properties.get("setup-token")) and "has-user-setup" not in properties


def version_tag(properties):
    version = properties.get("version")
    if isinstance(version, dict) and isinstance(version.get("tag"), str):
        return version["tag"]
    return None


def build_setup_payload(token, params):
    """The body of ``POST /api/setup/``: only the keys this module sets, no ``None`` values."""
    user = {"email": params["username"], "password": params["password"]}
    for key in ("first_name", "last_name"):
        if params.get(key):
            user[key] = params[key]
    prefs = {"site_name": params["site_name"]}
    if params.get("site_locale"):
        prefs["site_locale"] = params["site_locale"]
    return {"token": token, "user": user, "prefs": prefs}


PASSWORD_REFUSED = (
    "Metabase refuses this admin password (%s), so setup would fail; nothing was set up. Hint: Metabase "  # noqa: S105 - a message
    "refuses the passwords on its list of about 12,000 common passwords (compared in lower case) and those "
    "that break MB_PASSWORD_COMPLEXITY (normal by default: at least one digit) or MB_PASSWORD_LENGTH (6 by "
    "default); choose a longer, uncommon password."
)


def check_password(client, password):
    """Ask Metabase whether it accepts ``password`` (``POST /api/session/password-check``, the rule
    setup applies, changes nothing), so a refused password fails before setup, in check mode too.

    Metabase versions without the endpoint (404) leave the check to setup itself."""
    try:
        client.request("POST", "/api/session/password-check", body={"password": password}, auth=False, idempotent=True)
    except MetabaseError as exc:
        if exc.status == 404:
            return
        if exc.status == 400:
            raise ModuleFailure(PASSWORD_REFUSED % (exc.errors.get("password") or exc.detail)) from None
        raise


class ModuleFailure(Exception):
    """A failure whose message is complete (no request line to add)."""


def safe_user(user):
    if not isinstance(user, dict):
        return {}
    return dict((key, user[key]) for key in ("id", "email", "first_name", "last_name", "is_superuser") if key in user)


def main():
    argument_spec = metabase_argument_spec()
    argument_spec.update(
        username=dict(type="str", required=True),
        password=dict(type="str", required=True, no_log=True),
        site_name=dict(type="str", required=True),
        site_locale=dict(type="str"),
        first_name=dict(type="str"),
        last_name=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    # Setup and verification use username/password even when an API key is configured.
    client = MetabaseClient.from_module(module, use_api_key=False)
    result = dict(changed=False, setup_performed=False)
    try:
        properties = client.session_properties()
        token = properties.get("setup-token")
        if isinstance(token, str):
            client.add_secret(token)
        result["metabase_version"] = version_tag(properties)

        if setup_needed(properties):
            if not isinstance(token, str) or not token:
                module.fail_json(
                    msg="Metabase reports that setup is needed but publishes no setup token in "
                    "GET /api/session/properties. Hint: complete the setup once in the Metabase web UI.",
                    **result,
                )
            check_password(client, params["password"])
            if module._diff:
                result["diff"] = dict(
                    before=dict(setup_done=False),
                    after=dict(setup_done=True, admin_email=params["username"], site_name=params["site_name"]),
                )
            if not module.check_mode:
                answer = client.request(
                    "POST",
                    "/api/setup/",
                    body=build_setup_payload(token, params),
                    auth=False,
                    idempotent=False,
                    hints=SETUP_HINTS,
                )
                if isinstance(answer, dict) and answer.get("id"):
                    client.adopt_session(answer["id"])  # setup logs the new admin in: end that session too
            result.update(changed=True, setup_performed=True)
            module.exit_json(**result)

        try:
            client.login()
        except MetabaseError as exc:
            if exc.status != 401 or is_login_throttled(exc):
                raise
            raise MetabaseError(
                exc.method, exc.path, exc.detail, status=exc.status, hint=LOGIN_HINTS[401], errors=exc.errors
            ) from None
        user = client.current_user()
        result["user"] = safe_user(user)
        if not result["user"].get("is_superuser"):
            module.fail_json(
                msg="Metabase setup is done and %s logs in, but is not a Metabase administrator. "
                "Hint: use the credentials of an administrator." % params["username"],
                **result,
            )
        if module._diff:
            # Metabase's own state; this module changes nothing once setup is done, so after is before.
            state = dict(setup_done=True, admin_email=result["user"].get("email"))
            state["site_name"] = properties.get("site-name")
            result["diff"] = dict(before=state, after=dict(state))
        module.exit_json(**result)
    except ModuleFailure as exc:
        module.fail_json(msg=str(exc), **result)
    except MetabaseError as exc:
        dry_run_exit(module, exc, "setup would be done for %s" % params["username"], dict(result, setup_performed=True))
        module.fail_json(msg=exc.msg, status=exc.status, **result)


if __name__ == "__main__":
    main()
