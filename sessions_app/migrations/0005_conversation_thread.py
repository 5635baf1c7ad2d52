"""The session's thread: message kinds, public ids, replies, links to artifact versions, the feedback or
requirement a message became, and one answer per question."""

import django.db.models.deletion
import sessions_app.ids
from django.conf import settings
from django.db import migrations, models


def fill_public_ids(apps, schema_editor):
    ConversationMessage = apps.get_model("sessions_app", "ConversationMessage")
    for message in ConversationMessage.objects.filter(public_id__isnull=True).only("pk").iterator():
        ConversationMessage.objects.filter(pk=message.pk).update(public_id=sessions_app.ids.message_public_id())


class Migration(migrations.Migration):

    dependencies = [
        ('sessions_app', '0004_verification'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='conversationmessage',
            name='feedback',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='message', to='sessions_app.feedback'),
        ),
        migrations.AddField(
            model_name='conversationmessage',
            name='kind',
            field=models.CharField(choices=[('message', "A person's message"), ('reply', "An agent's reply"), ('question', "An agent's question"), ('answer', "A person's answer to a question")], default='message', max_length=10),
        ),
        migrations.AddField(
            model_name='conversationmessage',
            name='links',
            field=models.JSONField(blank=True, default=list),
        ),
        # Existing rows (each session's intent) get their own id before the column becomes unique.
        migrations.AddField(
            model_name='conversationmessage',
            name='public_id',
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(fill_public_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='conversationmessage',
            name='public_id',
            field=models.CharField(default=sessions_app.ids.message_public_id, editable=False, max_length=32, unique=True),
        ),
        migrations.AddField(
            model_name='conversationmessage',
            name='reply_to',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='replies', to='sessions_app.conversationmessage'),
        ),
        migrations.AddField(
            model_name='conversationmessage',
            name='requirement',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='messages', to='sessions_app.requirement'),
        ),
        migrations.AddConstraint(
            model_name='conversationmessage',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'answer')), fields=('reply_to',), name='uniq_answer_per_question'),
        ),
    ]
