# Review by region (issue 13): both teachers' labels kept with the item, and what a region
# review did (its log, the mask it made, the share of that mask left unlabeled).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("images", "0002_queue_strategies"),
        ("review", "0002_queue_strategies"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewitem",
            name="su_label",
            field=models.FileField(blank=True, upload_to="review/su/"),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="ru_label",
            field=models.FileField(blank=True, upload_to="review/ru/"),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="region_log",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="region_mask",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="images.mask"
            ),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="unlabeled_share",
            field=models.FloatField(blank=True, null=True),
        ),
    ]
