"""Published known answers the vectors carry, copied with their sources (testvectors/README.md).

Each constant is a value published by a third party, copied verbatim from the project's
collection ``tests/data/known-answers.json`` (its ``source`` fields name the origin);
tests/test_vectors.py checks that the copies still equal that collection. The generator
reads only this module, so it runs without the collection.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CHECKPOINT_NOTE",
    "CHECKPOINT_SOURCE",
    "CHECKPOINT_VKEY",
    "COSIGNATURE_KAT_CHECKPOINT",
    "COSIGNATURE_KAT_LINE",
    "COSIGNATURE_KAT_TIMESTAMP",
    "NOTE_C2SP_EXAMPLE",
    "NOTE_C2SP_EXAMPLE_VKEY",
    "NOTE_GO_ENOCH_VKEY",
    "NOTE_GO_PETER_LINE",
    "NOTE_GO_PETER_VKEY",
    "NOTE_GO_TWO_SIGNERS",
    "NOTE_SOURCE_C2SP",
    "NOTE_SOURCE_GO",
    "RFC9162_CONSISTENCY",
    "RFC9162_INCLUSION",
    "RFC9162_LEAF_HASH_KAT",
    "RFC9162_LEAF_INPUTS_HEX",
    "RFC9162_ROOT_BY_SIZE",
    "RFC9162_SOURCE",
    "TILES_SOURCE",
    "TILES_X_PATHS",
    "WITNESS_CHECKPOINTS",
    "WITNESS_CONSISTENCY",
    "WITNESS_LOG_VKEY",
    "WITNESS_SOURCE",
    "WITNESS_VKEY",
]

RFC9162_SOURCE: Final[str] = (
    "RFC 9162 section 2.1; values as published in transparency-dev/merkle testonly/constants.go"
)

RFC9162_LEAF_INPUTS_HEX: Final[tuple[str, ...]] = (
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)
"""The eight entries of the RFC 9162 test tree, in order."""

RFC9162_ROOT_BY_SIZE: Final[tuple[str, ...]] = (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)
"""MTH of the first n entries, for n = 0 to 8."""

RFC9162_INCLUSION: Final[tuple[tuple[int, int, tuple[str, ...]], ...]] = (
    (0, 1, ()),
    (0, 2, ("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",)),
    (1, 2, ("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",)),
    (2, 3, ("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",)),
    (
        3,
        4,
        (
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        ),
    ),
    (4, 5, ("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",)),
    (
        5,
        6,
        (
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        0,
        7,
        (
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
        ),
    ),
    (
        6,
        7,
        (
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        0,
        8,
        (
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        (
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        7,
        8,
        (
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
)
"""(index, size, PATH) of the test tree: a selection of the published 36."""

RFC9162_CONSISTENCY: Final[tuple[tuple[int, int, tuple[str, ...]], ...]] = (
    (1, 1, ()),
    (1, 2, ("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",)),
    (2, 3, ("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",)),
    (
        3,
        5,
        (
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (4, 6, ("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",)),
    (
        5,
        7,
        (
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        1,
        8,
        (
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        3,
        8,
        (
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (4, 8, ("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",)),
    (
        6,
        8,
        (
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        7,
        8,
        (
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (8, 8, ()),
)
"""(size1, size2, PROOF) of the test tree: a selection of the published 36."""

NOTE_SOURCE_C2SP: Final[str] = "C2SP signed-note spec example"

NOTE_SOURCE_GO: Final[str] = "golang.org/x/mod sumdb/note tests"

NOTE_C2SP_EXAMPLE: Final[str] = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

NOTE_C2SP_EXAMPLE_VKEY: Final[str] = (
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
)

NOTE_GO_TWO_SIGNERS: Final[str] = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    "— EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
"""Signed by PeterNeumann and EnochRoot."""

NOTE_GO_PETER_VKEY: Final[str] = (
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
)

NOTE_GO_ENOCH_VKEY: Final[str] = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"

NOTE_GO_PETER_LINE: Final[str] = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
"""PeterNeumann's signature line over the Go test text (Ed25519 is deterministic)."""

CHECKPOINT_SOURCE: Final[str] = (
    "sigsum-go pkg/checkpoint tests; signer is Ed25519 seed 0x11 followed by 31 zero bytes"
)

CHECKPOINT_NOTE: Final[str] = (
    "sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69\n"
    "10\n"
    "HA5HAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    "\n"
    "— "
    "sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69 "
    "gJ2ho0n8F8olcerUF1FFdv235A/5as/coWrpLrtE7ovMeP5whgwouYExowG/lTznxu6OUGjjt5yJQ6bXtTcf718MqAQ=\n"
)

CHECKPOINT_VKEY: Final[str] = (
    "sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69+809da1a3+AWbguFjkYqYJ5m/nE3DIFtiEb/ED1UmaIqf+w3/bxCSn"
)

WITNESS_SOURCE: Final[str] = (
    "FiloSottile/torchwood litewitness test script (a C2SP tlog-witness conversation); "
    "leaf hashes are 0x2a, index, 30 zero bytes"
)

WITNESS_LOG_VKEY: Final[str] = (
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562+5202289b+Af/cLU2Y5BJNP+r3iMDC+av9eWCD0fBJVDfzAux5zxAP"
)

WITNESS_CHECKPOINTS: Final[tuple[str, ...]] = (
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562\n"
    "1\n"
    "KgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    "\n"
    "— "
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562 "
    "UgIom7fPZTqpxWWhyjWduBvTvGVqsokMbqTArsQilegKoFBJQjUFAmQ0+YeSPM3wfUQMFSzVnnNuWRTYrajXpNUbIQY=\n",
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562\n"
    "3\n"
    "RcCI1Nk56ZcSmIEfIn0SleqtV7uvrlXNccFx595Iwl0=\n"
    "\n"
    "— "
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562 "
    "UgIom2VbtIcdFbwFAy1n7s6IkAxIY6J/GQOTuZF2ORV39d75cbAj2aQYwyJre36kezNobZs4SUUdrcawfAB8WVrx6go=\n",
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562\n"
    "5\n"
    "QrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY=\n"
    "\n"
    "— "
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562 "
    "UgIomw/EOJmWi0i1FQsOj+etB7F8IccFam/jgd6wzRns4QPVmyEZtdvl1U2KEmLOZ/ASRcWJi0tW90dJWAShei7sDww=\n",
)
"""Log-signed checkpoints of sizes 1, 3 and 5."""

WITNESS_CONSISTENCY: Final[tuple[tuple[int, int, tuple[str, ...]], ...]] = (
    (
        1,
        3,
        (
            "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ),
    (
        3,
        5,
        (
            "KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "KgMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "wgiIFdZfYNv6WU1OllBKsWnLYIS/DBMqt8Uh/S4OukE=",
            "KgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ),
    (
        1,
        5,
        (
            "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "+fUDV+k970B4I3uKrqJM4aP1lloPZP8mvr2Z4wRw2LI=",
            "KgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ),
)
"""(size1, size2, base64 proof) between those checkpoints."""

WITNESS_VKEY: Final[str] = (
    "example.com/witness+10a1c019+BGSEitir7W6FmBs7OHWyUrh2frtLAvcDrKOx5xu9ao5Q"
)

COSIGNATURE_KAT_CHECKPOINT: Final[str] = (
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562\n"
    "5\n"
    "QrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY=\n"
    "\n"
    "— "
    "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562 "
    "UgIomw/EOJmWi0i1FQsOj+etB7F8IccFam/jgd6wzRns4QPVmyEZtdvl1U2KEmLOZ/ASRcWJi0tW90dJWAShei7sDww=\n"
)

COSIGNATURE_KAT_TIMESTAMP: Final[int] = 1679315147

COSIGNATURE_KAT_LINE: Final[str] = (
    "— example.com/witness "
    "EKHAGQAAAABkGFDLBPkKNZFw49ZCQrVn7T5dfwKcHbmx3GEZkmJUXhZwdfd15uO+pAOz8N3/OhMgIB1+wM6wumhne7KwX1hpczoWBw==\n"
)

RFC9162_LEAF_HASH_KAT: Final[tuple[str, str]] = (
    "L123456",
    "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56",
)
"""An ASCII entry and its RFC 9162 leaf hash SHA-256(0x00 || entry)."""

TILES_SOURCE: Final[str] = "C2SP tlog-tiles"

TILES_X_PATHS: Final[tuple[tuple[int, str], ...]] = (
    (0, "000"),
    (1, "001"),
    (999, "999"),
    (1000, "x001/000"),
    (1234067, "x001/x234/067"),
    (123456789, "x123/x456/789"),
)
"""Tile index N and its x-path spelling."""
