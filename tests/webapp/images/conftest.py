import struct
import zlib
from pathlib import Path

import pytest


@pytest.fixture
def media_files(settings):
    """A function listing every file under MEDIA_ROOT, to show that refused input left none."""

    def files() -> set[Path]:
        root = Path(settings.MEDIA_ROOT)
        return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()

    return files


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels with almost no pixel data: a bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
