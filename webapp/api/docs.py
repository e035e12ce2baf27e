"""The API docs pages (Swagger UI and Redoc from drf-spectacular's sidecar) under the site's
Content-Security-Policy.

Our templates drop drf-spectacular's inline <style>, inline script and Google Fonts, and Swagger
UI takes its init script from ?script (the split view), so Swagger UI runs under the site's
policy unchanged. Redoc alone needs a relaxed policy, on its page only: styled-components adds
<style> elements from JavaScript, hence style-src 'unsafe-inline', and the bundle starts a Web
Worker from a blob: URL, hence worker-src blob:. Script stays 'self' on both pages.
"""

from csp.decorators import csp_update
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

UNSAFE_INLINE = "'unsafe-inline'"

swagger_ui = SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html")
redoc = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
    SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html")
)
