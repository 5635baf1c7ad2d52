from django.urls import path
from django.views.generic import RedirectView

from sessions_app.web import views

urlpatterns = [
    path("", RedirectView.as_view(url="/development/", permanent=False)),
    path("development/", views.session_list_page, name="session-list"),
    path("development/new/", views.session_new_page, name="session-new"),
    path("development/<str:session_id>/", views.session_page, name="session-page"),
    path("development/files/<str:artifact_id>/", views.artifact_preview, name="artifact-preview"),
    path("static-hl.css", views.highlight_css, name="highlight-css"),
]
