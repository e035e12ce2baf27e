"""Request bodies that are files: a mask PUT as a raw PNG."""

from django.utils.datastructures import MultiValueDict
from rest_framework.parsers import BaseParser, DataAndFiles


class PNGParser(BaseParser):
    media_type = "image/png"

    def parse(self, stream, media_type=None, parser_context=None) -> "DataAndFiles[bytes, MultiValueDict]":
        """request.data is the PNG's bytes, request.FILES empty (as DRF makes it for a raw result)."""
        return DataAndFiles(stream.read() if stream is not None else b"", MultiValueDict())
