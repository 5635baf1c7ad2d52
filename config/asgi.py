"""ASGI entry point: HTTP through Django, websockets through Channels (Host and exact Origin checked, authenticated)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()  # before importing anything that touches models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from agents_app import embedded  # noqa: E402
from sessions_app.auth_middleware import TokenAuthMiddleware  # noqa: E402
from sessions_app.origins import OriginValidator  # noqa: E402
from sessions_app.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": OriginValidator(  # Host in ALLOWED_HOSTS; Origin exact, or absent with a token
            AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)

embedded.start_if_configured()  # REDIS_URL unset: the Celery worker runs on a thread in this process
