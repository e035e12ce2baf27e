"""Content negotiation for endpoints whose success body is a file (PNG, zip, model).

Those views return Django file responses themselves; DRF renders only their errors, always as
JSON, whatever the client's Accept header says (an `Accept: image/png` must not become a 406).
"""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer


class JSONErrorsNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = next((r for r in renderers if isinstance(r, JSONRenderer)), renderers[0])
        return renderer, renderer.media_type
