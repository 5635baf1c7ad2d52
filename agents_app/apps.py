from django.apps import AppConfig


class AgentsAppConfig(AppConfig):
    name = "agents_app"
    verbose_name = "Agents"

    def ready(self) -> None:
        from agents_app.epics import on_child_status_changed
        from agents_app.services.conflicts import on_session_status_changed
        from sessions_app.signals import session_status_changed

        session_status_changed.connect(on_child_status_changed, dispatch_uid="agents_app.epics.child_status")
        session_status_changed.connect(on_session_status_changed, dispatch_uid="agents_app.conflicts.expire")
