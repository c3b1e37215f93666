# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One poll loop for every wait of the collection: read, test, sleep, until done or out of time.

The clock and the sleep are parameters, so tests run a wait on a fake clock without sleeping."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


class TimedOut(Exception):
    """The wait ran out of time; `last` is what the last poll returned."""

    def __init__(self, last, timeout):
        super(TimedOut, self).__init__("timed out after %ss" % timeout)
        self.last = last
        self.timeout = timeout


def until(poll, timeout, interval, done=bool, on_timeout=None, sleep=time.sleep, clock=time.monotonic):
    """Call poll() until done(its value) holds and return that value; poll() is called at least once.

    When timeout seconds have passed first: on_timeout(last value) is returned (it usually raises the caller's
    own error), or without on_timeout TimedOut(last value) is raised. Between polls it sleeps `interval`
    seconds, never past the deadline. The clock is read once before the first poll and once after each.
    """
    deadline = clock() + timeout
    while True:
        value = poll()
        if done(value):
            return value
        remaining = deadline - clock()
        if remaining <= 0:
            if on_timeout is not None:
                return on_timeout(value)
            raise TimedOut(value, timeout)
        sleep(min(interval, remaining))


def argument_spec(with_wait=True):
    """The wait options of a module: wait_timeout, and wait unless the module always waits (doc fragments
    ambientmesh.multicluster.wait and ambientmesh.multicluster.wait.timeout)."""
    spec = {"wait_timeout": {"type": "float", "default": 120}}
    if with_wait:
        spec["wait"] = {"type": "bool", "default": False}
    return spec
