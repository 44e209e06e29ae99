# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Options shared by the modules of the C(metabase) action group.

    Keep in step with ``metabase_argument_spec()`` in ``plugins/module_utils/metabase.py``.
    """

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of Metabase, as the host running the module reaches it, without C(/api).
      - For example C(http://127.0.0.1:3030) or C(https://metabase.example.com).
    type: str
    required: true
  api_key:
    description:
      - A Metabase API key (Metabase 49 and later), sent as the C(X-API-Key) header.
      - When set, it is used instead of O(username) and O(password) to authenticate.
    type: str
  username:
    description:
      - Email address of the Metabase user to log in as through C(POST /api/session/) when
        O(api_key) is not set. The session id is sent as the C(X-Metabase-Session) header and is
        never returned or logged.
      - The module ends the session (C(DELETE /api/session/)) before it exits, whether it succeeds
        or fails; a logout that fails is a warning, never a failure.
    type: str
  password:
    description:
      - Password of O(username).
    type: str
  validate_certs:
    description:
      - Whether to validate the TLS certificate of Metabase when O(url) uses HTTPS.
      - Set to V(false) only for instances you control that use self-signed certificates.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates to validate the certificate of Metabase (or of the TLS proxy in
        front of it) against, instead of the system's trust store.
      - For a self-signed certificate, the certificate itself.
    type: path
  timeout:
    description:
      - Seconds to wait for the answer to one HTTP request.
      - Registering a database makes Metabase test the connection first, so allow for that.
    type: int
    default: 30
  wait_timeout:
    description:
      - When Metabase refuses connections, answers 503 because it is still starting, or a reverse
        proxy in front of it answers 502, 503 or 504 because it is down, poll C(GET /api/health) for
        at most this many seconds before failing.
      - A first start migrates the application database and can take minutes.
      - V(0) fails at once instead of waiting.
    type: int
    default: 120
notes:
  - Requests that fail with a connection error or a 5xx answer are retried a few times with
    exponential backoff; 4xx answers are never retried. A request that creates something
    (C(POST /api/database/)) is only repeated when it certainly did not reach Metabase (connection
    refused, or the 503 answer Metabase gives while it initializes), never after a proxy answered
    502, 503 or 504.
  - Error messages carry the HTTP status and Metabase's own C(message) and C(errors) text, never
    headers, request bodies, passwords, API keys or session ids.
"""

    ACTIONGROUP = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/cronicorn.monitoring.metabase) in C(module_defaults) to set O(url) and the
        credentials once for every module of the group.
    support: full
    membership:
      - cronicorn.monitoring.metabase
"""
