from django.urls import path

from artifacts_app.api import views

urlpatterns = [
    path("sessions/<str:session_id>/artifacts/", views.SessionArtifactListView.as_view(), name="api-session-artifacts"),
    path("sessions/<str:session_id>/changes/", views.SessionChangesView.as_view(), name="api-session-changes"),
    path("sessions/<str:session_id>/export.zip", views.SessionExportView.as_view(), name="api-session-export"),
    path("artifacts/<str:artifact_id>/", views.ArtifactDetailView.as_view(), name="api-artifact"),
    path(
        "artifacts/<str:artifact_id>/versions/", views.ArtifactVersionListView.as_view(), name="api-artifact-versions"
    ),
]
