"""The durable file operations every writer shares (transparency_log.durable)."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from transparency_log import durable


def test_replace_swaps_the_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state"
    target.write_bytes(b"old")
    durable.replace(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state"
    target.write_bytes(b"old")

    def broken(out: BinaryIO) -> None:
        out.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        durable.replace_with(target, broken)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_create_new_sets_the_mode_exactly_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        durable.create_new(tmp_path / "key", b"secret", mode=0o600)
        durable.create_new(tmp_path / "pub", b"public", mode=0o644, fsync=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "pub").stat().st_mode) == 0o644


@pytest.mark.parametrize("existing", ["file", "dangling symlink"])
def test_create_new_never_replaces_a_name(tmp_path: Path, existing: str) -> None:
    target = tmp_path / "key"
    if existing == "file":
        target.write_bytes(b"keep")
    else:
        target.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        durable.create_new(target, b"new")
    assert not (tmp_path / "nowhere").exists()
    if existing == "file":
        assert target.read_bytes() == b"keep"
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def test_a_held_lock_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    fd = durable.lock(path, RuntimeError)
    try:
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(RuntimeError, match=f"^{os.getpid()}$"):
            durable.lock(path, RuntimeError)  # flock is per open file: refused in-process too
    finally:
        os.close(fd)
    os.close(durable.lock(path, RuntimeError))  # released with the descriptor


def test_a_waiting_lock_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    fd = durable.lock(path, RuntimeError, mode=0o600)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        start = time.monotonic()
        with pytest.raises(RuntimeError, match=f"^{os.getpid()}$"):
            durable.lock(path, RuntimeError, timeout=0.1)
        assert 0.1 <= time.monotonic() - start < 5
    finally:
        os.close(fd)
    os.close(durable.lock(path, RuntimeError, timeout=0.1))  # free: taken at once


def test_a_lock_file_planted_as_a_symlink_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "lock").symlink_to(victim)
    with pytest.raises(OSError, match=r"symbolic links|Too many levels"):
        durable.lock(tmp_path / "lock", RuntimeError)
    assert victim.read_bytes() == b"keep"


def test_fsync_directory_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        durable.fsync_directory(tmp_path / "file")


def test_a_locked_writer_reuses_the_temporary_a_crash_left(tmp_path: Path) -> None:
    target = tmp_path / "leaf-filter"
    (tmp_path / ".leaf-filter.tmp").write_bytes(b"left by a killed writer")
    durable.replace_with(target, lambda out: out.write(b"new"), locked=True, fsync=False)
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["leaf-filter"]


def test_append_cuts_a_torn_last_line_first(tmp_path: Path) -> None:
    path = tmp_path / "records"
    durable.append(path, b"one\n")
    durable.append(path, b"two\n", fsync=False)
    assert path.read_bytes() == b"one\ntwo\n"
    with path.open("ab") as f:
        f.write(b"thr" + b"e" * 70_000)  # torn, longer than one read back
    durable.append(path, b"three\n")
    assert path.read_bytes() == b"one\ntwo\nthree\n"
    path.write_bytes(b"no line at all")
    durable.append(path, b"four\n")
    assert path.read_bytes() == b"four\n"


def test_replace_many_replaces_whole_files_and_cleans_up_after_a_failure(tmp_path: Path) -> None:
    (tmp_path / "fleets").mkdir()
    durable.replace_many(tmp_path, {"fleets/a.cbor": b"one", "index.json": b"{}"})
    durable.replace_many(tmp_path, {"fleets/a.cbor": b"two"})
    assert (tmp_path / "fleets/a.cbor").read_bytes() == b"two"
    with pytest.raises(FileNotFoundError):
        durable.replace_many(tmp_path, {"fleets/b.cbor": b"x", "missing/c.cbor": b"y"})
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.cbor", "fleets", "index.json"]


def test_overwrite_in_place_keeps_the_inode_and_truncates_a_longer_file(tmp_path: Path) -> None:
    target = tmp_path / "a.cbor"
    durable.overwrite_in_place(target, b"a longer first version")
    inode = target.stat().st_ino
    durable.overwrite_in_place(target, b"short")
    assert target.read_bytes() == b"short"
    assert target.stat().st_ino == inode  # rewritten, not created again
    durable.sync_filesystem(tmp_path)


def test_overwrite_in_place_never_writes_through_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "a.cbor").symlink_to(victim)
    with pytest.raises(OSError, match="symbolic links"):  # ELOOP: O_NOFOLLOW refused it
        durable.overwrite_in_place(tmp_path / "a.cbor", b"planted")
    assert victim.read_bytes() == b"keep"


def test_replace_symlink_switches_the_target_and_leaves_no_temporary(tmp_path: Path) -> None:
    link = tmp_path / "fleets"
    durable.replace_symlink(link, "one")
    durable.replace_symlink(link, "two", fsync=False)
    assert os.readlink(link) == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["fleets"]
