"""C2SP tlog-tiles: pure tile integration, the tree's right edge and the files it adds (OPS §6.2).

:class:`Frontier` is the writer's whole picture of the tree: the partial tile of every level
(with the interior nodes above its hashes, which are the tree's compact range) and the partial
entry bundle. :meth:`Frontier.append` advances it by a batch of entries and returns every
file that the new size adds, as ``{path: bytes}``. Nothing here reads or writes storage, takes
a lock or looks at a clock (tessera's ``Integrate`` is the model): the writer in
:mod:`transparency_log.appender` decides when those files are published, and rebuilds a
frontier from the published partial tiles on open.
"""

from __future__ import annotations

import hashlib

from transparency_log.entry_bundle import BUNDLE_WIDTH
from transparency_log.merkle import EMPTY_ROOT, CompactRange
from transparency_log.tile import TILE_HEIGHT, TILE_WIDTH, Tile, entries_path

__all__ = ["Frontier", "TileLevel"]

_sha256 = hashlib.sha256
_NODE = b"\x01"


class TileLevel:
    """The partial tile of one tile level, with the interior nodes above its hashes.

    ``nodes[h]`` holds the nodes of height ``h`` inside the tile (``nodes[0]`` is the tile's
    content); each node is computed once. The perfect subtrees that the tile's width
    decomposes into are exactly this level's share of the tree's compact range.
    """

    __slots__ = ("nodes",)

    def __init__(self, nodes: list[list[bytes]] | None = None) -> None:
        self.nodes = nodes if nodes is not None else [[] for _ in range(TILE_HEIGHT + 1)]

    def copy(self) -> TileLevel:
        return TileLevel([list(row) for row in self.nodes])

    @property
    def width(self) -> int:
        return len(self.nodes[0])

    def body(self) -> bytes:
        """The tile as served: its hashes concatenated (C2SP tlog-tiles)."""
        return b"".join(self.nodes[0])

    def extend(self, hashes: list[bytes]) -> tuple[list[bytes], list[bytes]]:
        """Append ``hashes``; return the bodies and the roots of the tiles they filled."""
        nodes = self.nodes
        bodies: list[bytes] = []
        roots: list[bytes] = []
        pos, end = 0, len(hashes)
        while pos < end:
            base = nodes[0]
            take = min(TILE_WIDTH - len(base), end - pos)
            base.extend(hashes[pos : pos + take])
            pos += take
            for height in range(TILE_HEIGHT):
                lower, upper = nodes[height], nodes[height + 1]
                have, need = len(upper), len(lower) >> 1
                if have == need:
                    break
                # RFC 9162 §2.1.1 interior node, inlined: this is the integration hot path.
                upper.extend(
                    [
                        _sha256(_NODE + lower[2 * i] + lower[2 * i + 1]).digest()
                        for i in range(have, need)
                    ]
                )
            if len(base) == TILE_WIDTH:
                bodies.append(b"".join(base))
                roots.append(nodes[TILE_HEIGHT][0])
                for row in nodes:
                    row.clear()
        return bodies, roots

    def subtree_roots(self) -> list[bytes]:
        """Roots of the perfect subtrees of the partial tile, largest first."""
        nodes, width = self.nodes, len(self.nodes[0])
        return [
            nodes[h][(width >> h) - 1] for h in range(TILE_HEIGHT - 1, -1, -1) if (width >> h) & 1
        ]


class Frontier:
    """The right edge of the tree at ``size``: what integration needs, and nothing more."""

    __slots__ = ("bundle", "levels", "size")

    def __init__(self, size: int, levels: list[TileLevel], bundle: bytes) -> None:
        self.size = size
        self.levels = levels
        self.bundle = bundle  # the encoded partial entry bundle (size % 256 entries)

    def copy(self) -> Frontier:
        return Frontier(self.size, [level.copy() for level in self.levels], self.bundle)

    def root(self) -> bytes:
        """RFC 9162 root of the tree: its compact range, from the top tile level down."""
        if self.size == 0:
            return EMPTY_ROOT
        hashes = [h for level in reversed(self.levels) for h in level.subtree_roots()]
        return CompactRange(self.size, hashes).root()

    def append(self, entries: list[bytes], hashes: list[bytes]) -> dict[str, bytes]:
        """Advance by ``entries`` (with their leaf hashes); return every file to write.

        The files are exactly the resources that the new size adds (SPEC §6.1): full entry
        bundles and tiles completed, and the new partial bundle and partial tiles. No path
        returned here is covered by a checkpoint of the old size.
        """
        old = self.size
        new = old + len(entries)
        files: dict[str, bytes] = {}

        # Entry bundles: u16be(length) || entry, continuing the partial bundle.
        index, fill, prefix = old // BUNDLE_WIDTH, old % BUNDLE_WIDTH, self.bundle
        pos = 0
        while pos < len(entries):
            take = min(BUNDLE_WIDTH - fill, len(entries) - pos)
            chunk = entries[pos : pos + take]
            data = b"".join([prefix, *[len(e).to_bytes(2, "big") + e for e in chunk]])
            pos += take
            fill += take
            if fill == BUNDLE_WIDTH:
                files[entries_path(index, BUNDLE_WIDTH)] = data
                index, fill, prefix = index + 1, 0, b""
            else:
                files[entries_path(index, fill)] = data
                prefix = data
        self.bundle = prefix

        # Hash tiles, level by level: the roots of tiles filled at one level are the
        # hashes appended to the level above (C2SP tlog-tiles §Merkle Tree).
        carry, level = hashes, 0
        while carry:
            if level == len(self.levels):
                self.levels.append(TileLevel())
            tiles = self.levels[level]
            first_full = old >> (TILE_HEIGHT * (level + 1))
            bodies, roots = tiles.extend(carry)
            for k, body in enumerate(bodies):
                files[Tile(level, first_full + k, TILE_WIDTH).path()] = body
            if tiles.width:
                tile_index = new >> (TILE_HEIGHT * (level + 1))
                files[Tile(level, tile_index, tiles.width).path()] = tiles.body()
            carry, level = roots, level + 1
        self.size = new
        return files
