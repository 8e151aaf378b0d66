import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def backfill_original_host(apps, schema_editor):
    """Every Space that ever went live was started by its current host (no handover existed)."""
    Space = apps.get_model("spaces", "Space")
    Space.objects.filter(original_host__isnull=True, started_at__isnull=False).update(
        original_host=F("host")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("spaces", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="space",
            name="original_host",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="moderationaction",
            name="action",
            field=models.CharField(
                choices=[
                    ("request_approved", "Approved a request to speak"),
                    ("request_denied", "Denied a request to speak"),
                    ("speaker_invited", "Invited to speak"),
                    ("cohost_invited", "Invited to co-host"),
                    ("invitation_cancelled", "Took back an invitation"),
                    ("cohost_added", "Became co-host"),
                    ("cohost_removed", "Co-host removed"),
                    ("cohost_stepped_down", "Co-host stepped down"),
                    ("speaker_demoted", "Moved to the audience"),
                    ("participant_muted", "Muted"),
                    ("participant_removed", "Removed"),
                    ("user_blocked", "Blocked"),
                    ("captions_toggled", "Captions turned on or off"),
                    ("pin_removed", "Removed a pin"),
                    ("host_changed", "Host handed over"),
                    ("space_ended", "Ended the Space"),
                    ("host_banned", "Host banned"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(backfill_original_host, migrations.RunPython.noop),
    ]
