"""The Celery app. Team mode: Redis broker and separate worker/beat processes.
Embedded mode: the in-memory broker and a worker thread inside the server (agents_app.embedded)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("harness")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
