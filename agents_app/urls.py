from django.urls import path

from agents_app.web import knowledge_delete_view, knowledge_page

urlpatterns = [
    path("knowledge/", knowledge_page, name="knowledge"),
    path("knowledge/<str:document_id>/delete/", knowledge_delete_view, name="knowledge-delete"),
]
