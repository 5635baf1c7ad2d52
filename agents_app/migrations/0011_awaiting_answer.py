"""A run can wait for a person's answer to its question (`ask_human`), parked like an approval."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('agents_app', '0010_agent_step'),
    ]

    operations = [
        migrations.AlterField(
            model_name='agentrun',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending (waiting on dependencies)'), ('queued', 'Queued'), ('running', 'Running'), ('paused', 'Paused'), ('awaiting_approval', 'Awaiting approval'), ('awaiting_answer', 'Awaiting an answer'), ('completed', 'Completed'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='pending', max_length=20),
        ),
    ]
