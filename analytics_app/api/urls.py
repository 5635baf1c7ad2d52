from django.urls import path

from analytics_app.api.views import AnalyticsView

urlpatterns = [path("analytics/", AnalyticsView.as_view(), name="api-analytics")]
