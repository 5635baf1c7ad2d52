from django.urls import path
from django.views.generic import RedirectView

from sessions_app.web import graph_views, views

urlpatterns = [
    path("", RedirectView.as_view(url="/development/", permanent=False)),
    path("development/", views.session_list_page, name="session-list"),
    path("development/new/", views.session_new_page, name="session-new"),
    path("development/<str:session_id>/", views.session_page, name="session-page"),
    path("development/<str:session_id>/graph.svg", graph_views.session_graph_svg, name="session-graph"),
    path(
        "development/<str:session_id>/screenshots/<int:screenshot_id>/",
        views.session_screenshot,
        name="session-screenshot",
    ),
    path("development/files/<str:artifact_id>/", views.artifact_preview, name="artifact-preview"),
    path("static-hl.css", views.highlight_css, name="highlight-css"),
]
