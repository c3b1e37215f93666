import os
import stat

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import atomic_write
from module_stub import atomic_move


@pytest.fixture(params=["AnsibleModule.atomic_move", "atomic_write.rename"])
def mover(request):
    """Both movers write_files is given: a module's atomic_move, and the rename of controller-side writers."""
    return atomic_move() if request.param == "AnsibleModule.atomic_move" else atomic_write.rename


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_new_files_get_exactly_their_mode_whatever_the_umask(tmp_path, mover):
    old = os.umask(0o002)  # atomic_move alone would give a new file 0664
    try:
        atomic_write.write_files(mover, [(str(tmp_path / "key.pem"), b"key", 0o600),
                                         (str(tmp_path / "cert.pem"), b"cert", 0o644)])
    finally:
        os.umask(old)
    assert (tmp_path / "key.pem").read_bytes() == b"key" and mode(tmp_path / "key.pem") == 0o600
    assert (tmp_path / "cert.pem").read_bytes() == b"cert" and mode(tmp_path / "cert.pem") == 0o644
    assert sorted(os.listdir(str(tmp_path))) == ["cert.pem", "key.pem"]  # no staged file left
    assert os.umask(old) == old  # the umask is put back


def test_replacing_a_file_sets_the_callers_mode_not_the_old_files(tmp_path, mover):
    key = tmp_path / "key.pem"
    key.write_bytes(b"old")
    os.chmod(str(key), 0o644)
    atomic_write.write_files(mover, [(str(key), b"new", 0o600)])
    assert key.read_bytes() == b"new" and mode(key) == 0o600


def test_dir_mode_makes_missing_folders(tmp_path, mover):
    path = tmp_path / "a" / "b" / "f"
    atomic_write.write_files(mover, [(str(path), b"x", 0o644)], dir_mode=0o700)
    assert path.read_bytes() == b"x" and mode(tmp_path / "a" / "b") == 0o700


def test_nothing_is_replaced_unless_every_file_could_be_staged(tmp_path, mover):
    first = tmp_path / "first"
    first.write_bytes(b"old")
    with pytest.raises(OSError) as err:
        atomic_write.write_files(mover, [(str(first), b"new", 0o644),
                                         (str(tmp_path / "missing" / "second"), b"x", 0o644)])
    assert err.value.filename == str(tmp_path / "missing" / "second")
    assert first.read_bytes() == b"old" and os.listdir(str(tmp_path)) == ["first"]


def test_a_failed_move_names_the_target_and_leaves_no_staged_file(tmp_path):
    def refuse(src, dest, **kwargs):
        raise Exception("Could not replace %r with %r." % (dest, src))

    with pytest.raises(OSError) as err:
        atomic_write.write_files(refuse, [(str(tmp_path / "f"), b"x", 0o600)])
    assert err.value.filename == str(tmp_path / "f") and "Could not replace" in err.value.strerror
    assert os.listdir(str(tmp_path)) == []
