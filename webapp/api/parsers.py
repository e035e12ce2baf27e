"""Request bodies that are files: a mask PUT as a raw PNG."""

from rest_framework.parsers import BaseParser


class PNGParser(BaseParser):
    media_type = "image/png"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read() if stream is not None else b""
