from django.core.management.base import BaseCommand

from sessions_app.services.demo import demo_seed

DEFAULT_PASSWORD = "harness-demo"  # noqa: S105 - the documented demo password


class Command(BaseCommand):
    help = "Create (idempotently) organisation acme with member/lead/admin and globex with outsider."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="password for every demo user")

    def handle(self, *args, password: str, **options) -> None:  # noqa: ANN002, ANN003
        for username, organization, role in demo_seed(password=password):
            self.stdout.write(f"  {username:<9} {role:<7} in {organization:<7} password: {password}")
