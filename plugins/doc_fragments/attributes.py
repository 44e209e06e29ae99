# -*- coding: utf-8 -*-
# Copyright: (c) 2025, Cronicorn operations
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The attributes every module of this collection shares: full check mode, full diff mode, any platform.

    A module states only what is its own: ``details`` of an attribute, or another value. Ansible merges an
    attribute key by key and the module's own keys win, so ``check_mode: {details: [...]}`` keeps
    ``support: full`` from here. Use after ``ansible.builtin.action_common_attributes`` (the descriptions).
    """

    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: all
"""
