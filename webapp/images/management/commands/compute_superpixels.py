"""Compute the superpixels of a project's images now (images uploaded before the worker
computed them after each upload, or whose task was lost).

    python manage.py compute_superpixels --project ID

Runs here, not on a worker: only images without superpixels are done, so it is safe to rerun
or to run while a worker computes them.
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from webapp.images.superpixels import images_without_superpixels, superpixels_compute_missing
from webapp.projects.models import Project

NO_SUCH_PROJECT = "No project with id {value}."
COMPUTED = "Computed the superpixels of {count} images of {name}."


class Command(BaseCommand):
    help = "Compute the superpixels of a project's images (editor's superpixel tool, region review)."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True, help="project id")

    def handle(self, *args, **options):
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(NO_SUCH_PROJECT.format(value=options["project"]))
        total = images_without_superpixels(project=project).count()
        with tqdm(total=total, desc=f"Superpixels of {project.name}", unit="image", disable=None) as bar:
            count = superpixels_compute_missing(project=project, on_progress=bar.update)
        self.stdout.write(self.style.SUCCESS(COMPUTED.format(count=count, name=project.name)))
