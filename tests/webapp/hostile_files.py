"""Hostile files, generated in the test: decompression bombs, truncated files and zips that
lie (encrypted members, forged sizes, names that climb out of the archive)."""

import io
import struct
import zipfile
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int = 30_000, height: int = 30_000, bit_depth: int = 1, rows_per_block: int = 1000) -> bytes:
    """A real greyscale PNG of width x height black pixels: every row is there, compressed.

    30000x30000 at 1 bit is about 110 KB holding 112 MB of rows (900 megapixels); at 8 bits
    about 900 KB holding 900 MB. Built in well under a second: one block of rows is
    compressed with a full flush (no reference reaches before it) and repeated.
    """
    row = 1 + (width * bit_depth + 7) // 8  # the filter byte, then the packed pixels: all zero
    assert height % rows_per_block == 0 or height < rows_per_block
    rows_per_block = min(rows_per_block, height)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(row * rows_per_block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    raw_size = row * height
    adler = ((raw_size % 65521) << 16) | 1  # Adler-32 of raw_size zero bytes
    stream = b"\x78\xda" + block * (height // rows_per_block) + b"\x03\x00" + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", stream) + png_chunk(b"IEND", b"")


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


def zip_of(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def _patch_entries(data: bytes, name: str, patch) -> bytes:
    """Apply patch(buffer, record_offset, kind) to the local header and the central directory
    record of `name` (kind "local" or "central")."""
    buffer = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        local = archive.getinfo(name).header_offset
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + name_length] == name.encode():
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert central != -1, name
    patch(buffer, local, "local")
    patch(buffer, central, "central")
    return bytes(buffer)


def encrypted(data: bytes, name: str) -> bytes:
    """The zip with `name` flagged as encrypted (bit 0 of the flags), as a password tool writes it."""

    def set_flag(buffer, offset, kind):
        at = offset + (6 if kind == "local" else 8)
        struct.pack_into("<H", buffer, at, struct.unpack_from("<H", buffer, at)[0] | 0x1)

    return _patch_entries(data, name, set_flag)


def claiming_size(data: bytes, name: str, size: int) -> bytes:
    """The zip with `name`'s unpacked size in the central directory forged to `size` bytes."""

    def set_size(buffer, offset, kind):
        if kind == "central":
            struct.pack_into("<I", buffer, offset + 24, size)

    return _patch_entries(data, name, set_size)
