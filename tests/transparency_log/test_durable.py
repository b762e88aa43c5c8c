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
