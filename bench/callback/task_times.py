# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark aid (not part of the collection): writes each task's wall time to $BENCH_TASK_TIMES as JSON."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: each task's wall time, for bench/bench.py
description: Writes [[task name, seconds, hosts run, hosts skipped], ...] to the file named by BENCH_TASK_TIMES.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._rows, self._current = [], None

    def _close(self):
        if self._current:
            name, start, counts = self._current
            self._rows.append([name, round(time.monotonic() - start, 3), counts["run"], counts["skipped"]])
        self._current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self._current = (task.get_name(), time.monotonic(), {"run": 0, "skipped": 0})

    def _count(self, key):
        if self._current:
            self._current[2][key] += 1

    def v2_runner_on_ok(self, result):
        self._count("run")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count("run")

    def v2_runner_on_skipped(self, result):
        self._count("skipped")

    def v2_playbook_on_play_start(self, play):
        self._close()

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get("BENCH_TASK_TIMES")
        if path:
            with open(path, "w") as f:
                json.dump(self._rows, f)
