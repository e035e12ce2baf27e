"""Import a dataset zip into a project: analyse, then store only when confirmed.

    python manage.py import_dataset PROJECT ZIP [--format FORMAT] [--user USERNAME] [--yes]

Formats: segloop's export, coco, voc, cityscapes, cvat (detected from the layout when not given).
The analysis (classes mapped by name, unknown and missing classes, every refused file) is printed
first; nothing is stored unless --yes is given or the question is answered "y".
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from webapp.datasets.archive import InvalidDataset
from webapp.datasets.dataset_import import FORMATS, dataset_analyse, dataset_import
from webapp.images.management.commands.import_images import project_from_arg, user_from_arg

NOT_A_FILE = "{path} is not a file."
NOT_CONFIRMED = "Nothing stored. Run again with --yes to import."


class Command(BaseCommand):
    help = "Import a dataset zip (segloop, COCO, Pascal VOC, Cityscapes, CVAT masks) into PROJECT after an analysis."

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("zip", type=Path, help="the dataset zip")
        parser.add_argument("--format", choices=FORMATS, help="the zip's format (default: detected)")
        parser.add_argument("--user", help="username recorded as uploader and mask author (default: none)")
        parser.add_argument("--yes", action="store_true", help="import without asking")

    def handle(self, *args, **options):
        project = project_from_arg(options["project"])
        user = user_from_arg(options["user"])
        path: Path = options["zip"]
        if not path.is_file():
            raise CommandError(NOT_A_FILE.format(path=path))
        with path.open("rb") as handle:
            try:
                report = dataset_analyse(project=project, archive_file=handle, fmt=options["format"])
            except InvalidDataset as error:
                raise CommandError(str(error)) from None
            self._print_analysis(report)
            if not report["can_import"]:
                raise CommandError(report["detail"])
            if not options["yes"] and not self._confirmed():
                self.stdout.write(NOT_CONFIRMED)
                return
            try:
                result = dataset_import(project=project, archive_file=handle, user=user, fmt=options["format"])
            except InvalidDataset as error:
                raise CommandError(str(error)) from None
        if result.get("detail"):
            raise CommandError(result["detail"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {result['created']} images; added {result.get('masks_added', 0)} mask versions."
            )
        )
        for entry in result["results"]:
            if entry["error"]:
                self.stdout.write(self.style.WARNING(f"  {entry['error']}"))

    def _print_analysis(self, report: dict) -> None:
        classes = report["classes"]
        self.stdout.write(f"Format: {report['format']}; {report['images']} images, {report['with_mask']} with a mask.")
        self.stdout.write(f"  classes matched by name: {', '.join(classes['matched']) or 'none'}")
        if classes["unknown"]:
            self.stdout.write(
                self.style.WARNING(
                    f"  not in this project: {', '.join(classes['unknown'])}"
                    + (
                        f" (their pixels go to the ignore class, index {classes['unknown_to']})"
                        if classes["unknown_to"] is not None
                        else ""
                    )
                )
            )
        if classes["missing"]:
            self.stdout.write(f"  this project's classes the dataset lacks: {', '.join(classes['missing'])}")
        for entry in report["results"]:
            self.stdout.write(self.style.ERROR(f"  refused: {entry['error']}"))
        self.stdout.write(report["detail"])

    def _confirmed(self) -> bool:
        if not sys.stdin.isatty():
            return False
        return input("Import? [y/N] ").strip().lower() in ("y", "yes")
