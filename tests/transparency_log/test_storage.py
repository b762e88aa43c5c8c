"""Tile storage: path validation, atomic write-once files, the checkpoint's atomic replace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from transparency_log.storage import (
    CHECKPOINT_PATH,
    DirectoryTileStore,
    MemoryTileStore,
    TileStore,
    validate_path,
)


@pytest.mark.parametrize(
    "path",
    ["tile/0/000", "tile/0/x001/x234/067.p/17", "tile/entries/000.p/1", "checkpoint"],
)
def test_tile_paths_are_accepted(path: str) -> None:
    assert validate_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/etc/passwd",
        "../outside",
        "tile/../../outside",
        "tile/./0",
        "tile//0",
        "tile/0/",
        ".state/lock",
        "tile/0/.000.tmp",
        "tile\\0",
        "tile/0/000\x00",
        "tile/" + "a" * 300,
    ],
)
def test_traversal_and_odd_paths_are_refused(path: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a relative path"):
        validate_path(path)
    for store in (DirectoryTileStore(tmp_path), MemoryTileStore()):
        with pytest.raises(ValueError, match="not a relative path"):
            store.read(path)
        with pytest.raises(ValueError, match="not a relative path"):
            store.publish({path: b"x"}, b"cp")


def test_paths_are_strings() -> None:
    with pytest.raises(TypeError):
        validate_path(b"tile/0/000")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DirectoryTileStore("relative")  # type: ignore[arg-type]


@pytest.mark.parametrize("fsync", [True, False])
def test_directory_store_writes_files_and_leaves_no_temporaries(
    tmp_path: Path, fsync: bool
) -> None:
    store: TileStore = DirectoryTileStore(tmp_path / "log", fsync=fsync)
    files = {
        "tile/0/000": b"a" * 8192,
        "tile/0/001.p/5": b"b" * 160,
        "tile/entries/x001/000": b"\x00\x01c",
    }
    store.publish(files, b"origin\n1\nroot\n")
    for path, data in files.items():
        assert store.read(path) == data
        assert (tmp_path / "log" / path).read_bytes() == data
        assert os.stat(tmp_path / "log" / path).st_mode & 0o777 == 0o644
    assert store.read(CHECKPOINT_PATH) == b"origin\n1\nroot\n"
    assert store.read("tile/0/002") is None
    leftovers = list((tmp_path / "log").rglob(".*"))
    assert leftovers == []


def test_a_rewrite_replaces_atomically_and_the_checkpoint_is_replaced(tmp_path: Path) -> None:
    store = DirectoryTileStore(tmp_path)
    store.publish({"tile/0/000.p/1": b"old"}, b"one")
    # A stale temporary left by a killed writer is truncated, not appended to.
    (tmp_path / "tile/0/000.p/.1.tmp").write_bytes(b"garbage" * 100)
    store.publish({"tile/0/000.p/1": b"new"}, b"two")
    assert store.read("tile/0/000.p/1") == b"new"
    assert (tmp_path / "checkpoint").read_bytes() == b"two"
    assert not (tmp_path / ".checkpoint.tmp").exists()


def test_checkpoint_is_renamed_last_and_directories_are_flushed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DirectoryTileStore(tmp_path)
    store.publish({"tile/0/000.p/1": b"x"}, b"cp")  # creates the directories
    events: list[str] = []
    real_replace, real_fsync = os.replace, os.fsync

    def recording_replace(src: str, dst: str) -> None:
        events.append("rename " + os.path.relpath(dst, tmp_path))
        real_replace(src, dst)

    def recording_fsync(fd: int) -> None:
        events.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", recording_replace)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    store.publish({f"tile/0/{i:03d}": b"y" for i in range(5)}, b"cp2")
    # Each file is renamed into place as soon as it is written (no published checkpoint
    # names it yet); then, in one round, the five files, the staged checkpoint, tile/0
    # (ONCE) and the root (the staged checkpoint's new name, the last rename) are flushed;
    # only then is the checkpoint renamed, with no flush of its own (SPEC §6.1).
    assert events[:5] == [f"rename tile/0/{i:03d}" for i in range(5)]
    assert sorted(events[5:13]) == ["fsync dir"] * 2 + ["fsync file"] * 6
    assert events[13:] == ["rename checkpoint"]
    # Its flush rides on the next publication's round, as does a roll-forward's rename.
    events.clear()
    (tmp_path / ".checkpoint.tmp").write_bytes(b"cp3")
    store.publish({}, b"cp3")
    assert events == ["fsync dir", "rename checkpoint"]


def test_with_a_cosigner_the_cosigned_checkpoint_is_durable_before_publish_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next publication rewrites ``.checkpoint.tmp`` in place: so with witnesses the
    checkpoint they cosigned is flushed, renamed and its directory flushed at once."""
    store = DirectoryTileStore(tmp_path)
    store.publish({"tile/0/000.p/1": b"x"}, b"cp")
    events: list[str] = []
    real_replace, real_fsync = os.replace, os.fsync

    def recording_replace(src: str, dst: str) -> None:
        events.append("rename " + os.path.relpath(dst, tmp_path))
        real_replace(src, dst)

    def recording_fsync(fd: int) -> None:
        events.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", recording_replace)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    store.publish({"tile/0/000.p/2": b"xy"}, b"cp2", cosign=lambda cp: cp + b"cosigned")
    assert events[0] == "rename tile/0/000.p/2"
    assert sorted(events[1:5]) == ["fsync dir"] * 2 + ["fsync file"] * 2
    assert events[5:] == ["fsync file", "rename checkpoint", "fsync dir"]
    assert (tmp_path / ".checkpoint.tmp").read_bytes() == b"cp2"
    assert (tmp_path / "checkpoint").read_bytes() == b"cp2cosigned"


def test_files_are_complete_under_their_final_names_before_any_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader never sees a file half written, even one that no checkpoint names yet."""
    store = DirectoryTileStore(tmp_path)
    seen: dict[str, bytes] = {}
    real_replace = os.replace

    def checking_replace(src: str, dst: str) -> None:
        real_replace(src, dst)
        seen[os.path.relpath(dst, tmp_path)] = Path(dst).read_bytes()

    monkeypatch.setattr(os, "replace", checking_replace)
    files = {"tile/0/000": b"t" * 8192, "tile/entries/000": b"e" * 262_656}
    store.publish(files, b"cp")
    assert seen == {**files, CHECKPOINT_PATH: b"cp"}


def test_a_failed_flush_never_publishes_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DirectoryTileStore(tmp_path)
    store.publish({}, b"old")

    def failing_fsync(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        store.publish({"tile/0/000.p/1": b"x", "tile/0/001.p/1": b"y"}, b"new")
    assert (tmp_path / "checkpoint").read_bytes() == b"old"


def test_memory_store_copies_and_lists() -> None:
    store = MemoryTileStore()
    store.publish({"tile/0/000.p/1": b"abc"}, b"cp")
    assert store.read("tile/0/000.p/1") == b"abc"
    assert store.paths() == ["checkpoint", "tile/0/000.p/1"]
    with pytest.raises(TypeError):
        store.publish({}, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DirectoryTileStore(Path("x")).publish({}, "text")  # type: ignore[arg-type]
