"""Write the whole installation (database rows, media files, model checkpoints) to one archive.

    python manage.py backup /srv/backups/segloop.tar       # or .tar.gz / .tgz
    python manage.py backup /srv/backups/                  # segloop-backup-YYYYmmdd-HHMMSS.tar in it

The archive appears under its name only once complete; an existing file is never overwritten.
"""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from webapp.backup.manifest import BackupRefused
from webapp.backup.services import backup_create

MISSING_FILE = "{name} is named by {row} but is missing from its storage; it is not in the archive."
MISSING_SUMMARY = (
    "{count} files that the database names were missing from storage (listed above): the archive "
    "holds everything else, and a restore gives back those rows without their files."
)


class Command(BaseCommand):
    help = "Back up the database rows, media files and model checkpoints into one tar archive."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("target", type=Path, help="a new .tar, .tar.gz or .tgz file, or an existing folder")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = backup_create(path=options["target"], progress=options["verbosity"] > 0)
        except BackupRefused as error:
            raise CommandError(str(error)) from error
        manifest = summary.manifest
        for name in summary.skipped:
            self.stderr.write(self.style.WARNING(f"{name} was deleted while the backup ran; it is not in the archive."))
        for name, row in summary.missing:
            self.stderr.write(self.style.WARNING(MISSING_FILE.format(name=name, row=row)))
        rows = sum(manifest.object_counts.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {summary.path}: {rows} rows, {len(manifest.files)} files ({manifest.file_bytes} bytes)."
            )
        )
        if summary.missing:
            self.stderr.write(self.style.WARNING(MISSING_SUMMARY.format(count=len(summary.missing))))
