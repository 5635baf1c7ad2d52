from django.urls import path

from agents_app.api import transcripts, views

SESSION = "sessions/<str:session_id>/"
RUN = SESSION + "runs/<str:run_id>/"

urlpatterns = [
    path("agents/", views.AgentListView.as_view(), name="api-agents"),
    path(SESSION + "pause/", views.SessionPauseView.as_view(), name="api-session-pause"),
    path(SESSION + "resume/", views.SessionResumeView.as_view(), name="api-session-resume"),
    path(SESSION + "cancel/", views.SessionCancelView.as_view(), name="api-session-cancel"),
    path(SESSION + "retry/", views.SessionRetryView.as_view(), name="api-session-retry"),
    path(SESSION + "verification/", views.SessionVerificationView.as_view(), name="api-session-verification"),
    path(RUN + "pause/", views.RunPauseView.as_view(), name="api-run-pause"),
    path(RUN + "resume/", views.RunResumeView.as_view(), name="api-run-resume"),
    path(RUN + "cancel/", views.RunCancelView.as_view(), name="api-run-cancel"),
    path(RUN + "retry/", views.RunRetryView.as_view(), name="api-run-retry"),
    path(RUN + "steps/", transcripts.RunStepListView.as_view(), name="api-run-steps"),
    path("knowledge/", views.KnowledgeListCreateView.as_view(), name="api-knowledge"),
    path("knowledge/<str:document_id>/", views.KnowledgeDetailView.as_view(), name="api-knowledge-detail"),
    path("approvals/<str:approval_id>/decide/", views.ApprovalDecideView.as_view(), name="api-approval-decide"),
]
