"""Create a project from the command line, e.g. for CamVid:

python manage.py create_project CamVid --owner admin --preset camvid
python manage.py create_project Streets --owner admin --classes "background,road:#804080,void:#000000:ignore"
"""

import re

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from webapp.projects.models import HEX_COLOUR
from webapp.projects.services import ClassSpec, project_create

# CamVid's 11 classes in the SegNet tutorial's order and palette; "unlabelled" (11) is ignored.
CAMVID_CLASSES = [
    ClassSpec("sky", "#808080"),
    ClassSpec("building", "#800000"),
    ClassSpec("pole", "#c0c080"),
    ClassSpec("road", "#804080"),
    ClassSpec("pavement", "#3c28de"),
    ClassSpec("tree", "#808000"),
    ClassSpec("sign/symbol", "#c08080"),
    ClassSpec("fence", "#404080"),
    ClassSpec("car", "#400080"),
    ClassSpec("pedestrian", "#404000"),
    ClassSpec("bicyclist", "#0080c0"),
    ClassSpec("unlabelled", "#000000", is_ignore=True),
]
PRESETS = {"camvid": CAMVID_CLASSES}
BAD_CLASS = "Write each class as name, name:#rrggbb or name:#rrggbb:ignore, not {item!r}."


class Command(BaseCommand):
    help = "Create a project owned by (and administered by) --owner, with a class preset or a class list."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="username of the owner, who becomes its admin")
        classes = parser.add_mutually_exclusive_group(required=True)
        classes.add_argument("--preset", choices=sorted(PRESETS), help="a known class list")
        classes.add_argument("--classes", help="comma-separated: name[:#rrggbb[:ignore]], in index order")
        parser.add_argument("--description", default="")
        parser.add_argument("--review-threshold", type=float, default=0.9)

    def handle(self, *args, **options):
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"No user called {options['owner']!r}.")
        classes = PRESETS[options["preset"]] if options["preset"] else parse_classes(options["classes"])
        try:
            project = project_create(
                owner=owner,
                name=options["name"],
                classes=classes,
                description=options["description"],
                review_threshold=options["review_threshold"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(f"Created project {project.id} {project.name!r} with {len(classes)} classes.")
        )
        self.stdout.write(f"Import images with: python manage.py import_images {project.id} DIR [--masks DIR]")


def parse_classes(text: str) -> list[ClassSpec]:
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, rest = item.partition(":")
        colour, _, flag = rest.partition(":")
        if flag not in ("", "ignore") or (colour and not re.fullmatch(HEX_COLOUR.regex, colour)):
            raise CommandError(BAD_CLASS.format(item=item))
        specs.append(ClassSpec(name=name, color=colour, is_ignore=flag == "ignore"))
    return specs
