# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signals during a failover drill: SIGTERM/SIGINT/SIGHUP become an exception so that `finally` restores the
replicas, and are held back while a restore runs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import signal


class DrillInterrupted(Exception):
    """Raised in the main thread by SIGTERM/SIGINT/SIGHUP so that `finally` restores the replicas."""

    def __init__(self, signum):
        super(DrillInterrupted, self).__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name


class Signals:
    """SIGTERM/SIGINT raise DrillInterrupted while armed; while deferred (during a restore) they are only
    noted and raised once the restore is done."""

    HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self):
        self.deferred = False
        self.pending = None
        self._previous = {}

    def _handler(self, signum, frame):
        if self.deferred:
            self.pending = self.pending or signum
            return
        raise DrillInterrupted(signum)

    def __enter__(self):
        for sig in self.HANDLED:
            self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
