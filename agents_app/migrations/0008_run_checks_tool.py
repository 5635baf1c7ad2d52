"""The agents that write or judge code may run the session's checks mid-run (`run_checks`)."""

from django.db import migrations

CHECKERS = ("backend", "frontend", "test-engineer", "reviewer")


def grant(apps, schema_editor):
    AgentDefinition = apps.get_model("agents_app", "AgentDefinition")
    for agent in AgentDefinition.objects.filter(organization__isnull=True, slug__in=CHECKERS):
        if "run_checks" not in agent.tools:
            agent.tools = [*agent.tools, "run_checks"]
            agent.save(update_fields=["tools"])


def revoke(apps, schema_editor):
    AgentDefinition = apps.get_model("agents_app", "AgentDefinition")
    for agent in AgentDefinition.objects.filter(organization__isnull=True, slug__in=CHECKERS):
        agent.tools = [t for t in agent.tools if t != "run_checks"]
        agent.save(update_fields=["tools"])


class Migration(migrations.Migration):
    dependencies = [("agents_app", "0007_verification")]
    operations = [migrations.RunPython(grant, revoke)]
