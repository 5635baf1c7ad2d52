from django.urls import path

from sessions_app.api import conversation, stream, views

urlpatterns = [
    path("auth/token/", views.TokenCreateView.as_view(), name="api-token"),
    path("organizations/", views.OrganizationListView.as_view(), name="api-organizations"),
    path("sessions/", views.SessionListCreateView.as_view(), name="api-sessions"),
    path("sessions/<str:session_id>/", views.SessionDetailView.as_view(), name="api-session"),
    path("sessions/<str:session_id>/events/", views.EventListView.as_view(), name="api-session-events"),
    path("sessions/<str:session_id>/stream/", stream.session_stream, name="api-session-stream"),
    path("sessions/<str:session_id>/feedback/", views.FeedbackCreateView.as_view(), name="api-session-feedback"),
    path(
        "sessions/<str:session_id>/conversation/",
        conversation.ConversationView.as_view(),
        name="api-session-conversation",
    ),
    path(
        "sessions/<str:session_id>/requirements/",
        views.RequirementCreateView.as_view(),
        name="api-session-requirements",
    ),
    path("sessions/<str:session_id>/share/", views.ShareView.as_view(), name="api-session-share"),
    path("sessions/<str:session_id>/unshare/", views.UnshareView.as_view(), name="api-session-unshare"),
    path("sessions/<str:session_id>/approvals/", views.ApprovalListView.as_view(), name="api-session-approvals"),
    path(
        "sessions/<str:session_id>/approvals/dismiss/",
        views.ApprovalDismissView.as_view(),
        name="api-session-approvals-dismiss",
    ),
]
