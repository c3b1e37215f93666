# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way this collection writes files on the controller (root CA files, verify reports, mesh_link's dest):
each file is staged beside its target with its final mode, and only when every file is staged is each moved into
place with AnsibleModule.atomic_move (a module) or a rename (an action plugin). A reader sees the old file or the
new one, never half of one, and a key never exists with a wider mode than its own, not even for a moment."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import tempfile


@contextlib.contextmanager
def _umask_for(mode):
    """atomic_move gives a file it creates 0666 less the umask; this umask makes that exactly `mode`."""
    previous = os.umask(0o777 & ~mode)
    try:
        yield
    finally:
        os.umask(previous)


def _stage(path, data, mode, dir_mode):
    directory = os.path.dirname(path) or "."
    if dir_mode is not None:
        os.makedirs(directory, mode=dir_mode, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def rename(src, dest, keep_dest_attrs=False):  # pylint: disable=unused-argument
    """The atomic_move of writers that run on the controller: _stage puts the file beside its target, so a rename
    is atomic, and the staged mode is what the file keeps."""
    os.replace(src, dest)


def write_files(atomic_move, entries, dir_mode=None):
    """Write [(path, bytes, mode)] with atomic_move (the module's AnsibleModule.atomic_move).

    Every file is staged before any is replaced. With dir_mode, missing folders are made with that mode. A
    failure raises OSError whose filename is the target path; staged files are removed.
    """
    staged = []
    try:
        for path, data, mode in entries:
            try:
                staged.append((path, mode, _stage(path, data, mode, dir_mode)))
            except OSError as e:
                raise OSError(e.errno, e.strerror, path)
        while staged:
            path, mode, tmp = staged[0]
            try:
                with _umask_for(mode):
                    # keep_dest_attrs=False: the new file keeps the mode staged, not the mode of what it replaces
                    atomic_move(tmp, path, keep_dest_attrs=False)
            except OSError as e:
                raise OSError(e.errno, e.strerror, path)
            except Exception as e:  # atomic_move reports its fallbacks' failures as a bare Exception
                raise OSError(None, str(e), path)
            staged.pop(0)
            os.chmod(path, mode)
    finally:
        for _path, _mode, tmp in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
