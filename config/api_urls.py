"""The `/api/v1/` tree: each app contributes its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("sessions_app.api.urls")),
    path("", include("agents_app.api.urls")),
    path("", include("artifacts_app.api.urls")),
    path("", include("analytics_app.api.urls")),
]
