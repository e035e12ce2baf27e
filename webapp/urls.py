from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

import webapp.converters  # noqa: F401  registers <id:...>, the bounded id every URL uses

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="projects:list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("projects/", include("webapp.projects.urls")),
    path("projects/", include("webapp.images.urls")),
    path("projects/", include("webapp.annotation.urls")),
    path("projects/", include("webapp.training.urls")),
    path("projects/", include("webapp.review.urls")),
    path("projects/", include("webapp.webhooks.urls")),
    path("projects/", include("webapp.serving.urls")),
    path("api/", include("webapp.api.urls")),
]
# Media files are never served as public static files: image, thumbnail and mask views check
# membership first (webapp.images.views).
