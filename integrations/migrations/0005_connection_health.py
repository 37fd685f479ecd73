# Connection health from traffic (integrations.connectors.health): only the Connection fields, written by hand so
# that other classes' pending changes stay out of it.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("integrations", "0004_poll_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="last_success_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="connection",
            name="last_failure_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="connection",
            name="last_failure_message",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="connection",
            name="auth_failed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="connection",
            name="traffic_window_start",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="connection",
            name="traffic_calls",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="connection",
            name="traffic_failures",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
    ]
