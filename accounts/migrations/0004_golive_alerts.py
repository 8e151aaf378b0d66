"""Go-live alerts (alerts/): the bell on each follow, the two switches in Settings, the inbox
kind, and the index the fan-out walks a host's followers by."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_language"),
    ]

    operations = [
        migrations.AddField(
            model_name="follow",
            name="alerts",
            field=models.CharField(
                choices=[("all", "All Spaces"), ("none", "None")], default="all", max_length=8
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="live_alert_emails",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="user",
            name="live_alerts",
            field=models.BooleanField(default=True),
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("follow", "New follower"),
                    ("space_live", "A Space went live"),
                    ("followed_live", "Someone you follow is live"),
                    ("space_shared", "A Space was shared with you"),
                    ("space_invite", "Invited to speak or co-host"),
                    ("space_reminder", "Space reminder"),
                    ("space_changed", "Scheduled Space changed"),
                    ("space_cancelled", "Scheduled Space cancelled"),
                    ("host_reminder", "Time to start your Space"),
                    ("ticket", "Ticket update"),
                    ("message", "New direct message"),
                ],
                max_length=32,
            ),
        ),
        migrations.AddIndex(
            model_name="follow",
            index=models.Index(fields=["followee", "follower"], name="follow_followee_follower"),
        ),
    ]
