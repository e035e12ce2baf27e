"""Restore a `manage.py backup` archive into a freshly migrated, empty database and empty media.

    python manage.py migrate
    python manage.py restore /srv/backups/segloop.tar

Nothing is ever overwritten: a database that holds rows, or media or checkpoints that hold files
(in local folders or object storage alike), is refused, as is an archive whose files do not
match its manifest or whose names leave their folders.
"""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from webapp.backup.manifest import BackupRefused
from webapp.backup.services import backup_restore


class Command(BaseCommand):
    help = "Restore a backup archive into an empty, migrated database and empty media storage."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("archive", type=Path, help="a file written by `manage.py backup`")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = backup_restore(path=options["archive"], progress=options["verbosity"] > 0)
        except BackupRefused as error:
            raise CommandError(str(error)) from error
        manifest = summary.manifest
        if summary.newer_migrations:
            self.stdout.write(
                f"Note: this database has {len(summary.newer_migrations)} migrations newer than the backup; "
                "rows were loaded as the backup had them."
            )
        rows = sum(manifest.object_counts.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {rows} rows and {len(manifest.files)} files ({manifest.file_bytes} bytes) "
                f"from the backup of {manifest.created_at} (segloop {manifest.segloop_commit or 'commit unknown'})."
            )
        )
