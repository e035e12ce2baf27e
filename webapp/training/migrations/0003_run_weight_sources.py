from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0002_run_timings"),
    ]

    operations = [
        migrations.AddField(
            model_name="trainingrun",
            name="weight_sources",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
