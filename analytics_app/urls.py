from django.urls import path

from analytics_app.web import analytics_page

urlpatterns = [path("analytics/", analytics_page, name="analytics")]
