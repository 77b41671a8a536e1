"""The data directory: created 0700, an existing one open to others tightened (with a notice) or refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mqttdesk.core.errors import MqttdeskError
from mqttdesk.store import db
from mqttdesk.store.db import DB_FILENAME, Store, make_private_dir

pytestmark = pytest.mark.skipif(os.name != "posix", reason="Unix modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_directory_is_exactly_0700_whatever_the_umask(data_dir: Path) -> None:
    notices: list[str] = []
    previous = os.umask(0o277)  # would leave the owner without write or search permission
    try:
        make_private_dir(data_dir / "nested", notices.append)
    finally:
        os.umask(previous)
    assert _mode(data_dir / "nested") == 0o700
    assert notices == []  # nothing to tell: we made it


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o750, 0o701])
def test_an_existing_directory_open_to_others_is_tightened_with_one_notice(data_dir: Path, mode: int) -> None:
    data_dir.mkdir()
    os.chmod(data_dir, mode)
    notices: list[str] = []
    store = Store.open(data_dir, notice=notices.append)
    store.close()
    assert _mode(data_dir) == 0o700
    assert notices == [f"the data directory {data_dir} was open to other users (mode {mode:04o}); "
                       "it is now private (0700)"]
    Store.open(data_dir, notice=notices.append).close()
    assert len(notices) == 1  # once tightened, nothing more to say


def test_a_private_directory_is_left_as_it_is(data_dir: Path) -> None:
    data_dir.mkdir()
    os.chmod(data_dir, 0o500)  # the owner's own choice: nothing for others to see, so not ours to change
    notices: list[str] = []
    make_private_dir(data_dir, notices.append)
    assert notices == []
    assert _mode(data_dir) == 0o500


def test_a_store_file_copied_in_with_a_wider_mode_is_made_0600(data_dir: Path) -> None:
    Store.open(data_dir).close()
    os.chmod(data_dir / DB_FILENAME, 0o644)
    Store.open(data_dir).close()
    assert _mode(data_dir / DB_FILENAME) == 0o600


def test_a_directory_that_cannot_be_tightened_is_refused(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another user's directory (we run the tests as whoever we are, so chmod is made to fail as it would)."""
    data_dir.mkdir()
    os.chmod(data_dir, 0o777)

    def not_yours(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(db.os, "chmod", not_yours)
    with pytest.raises(MqttdeskError) as refused:
        Store.open(data_dir, notice=pytest.fail)
    assert str(refused.value) == (f"the data directory {data_dir} is open to other users (mode 0777) and cannot be "
                                  "made private (Operation not permitted); use a directory of your own")
    assert not (data_dir / DB_FILENAME).exists()  # nothing was written into it


def test_a_file_where_the_directory_should_be_is_refused(data_dir: Path) -> None:
    data_dir.write_text("not a directory")
    with pytest.raises(MqttdeskError, match="is not a directory"):
        make_private_dir(data_dir, pytest.fail)


def test_a_file_system_that_ignores_modes_is_refused(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir.mkdir()
    os.chmod(data_dir, 0o777)
    monkeypatch.setattr(db.os, "chmod", lambda path, mode: None)  # succeeds and changes nothing, as on vfat
    with pytest.raises(MqttdeskError, match=r"cannot be made private \(its mode did not change\)"):
        make_private_dir(data_dir, pytest.fail)
