"""Embed a project's images now, for seed suggestions (projects that had images before the
worker embedded new uploads, or after a change of the project's student encoder).

    python manage.py embed_images --project ID

Runs here, not on a worker: only the images without an embedding of the project's student
encoder are embedded, so it is safe to rerun or to run while a worker embeds.
"""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from webapp.images.embeddings import embedding_encoder_for, image_embeddings_compute, images_without_embedding
from webapp.projects.models import Project

NO_SUCH_PROJECT = "No project with id {value}."
EMBEDDED = "Embedded {count} images of {name} with {encoder}."


class Command(BaseCommand):
    help = "Compute the pretrained-encoder embeddings of a project's images (seed suggestions)."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, required=True, help="project id")

    def handle(self, *args, **options):
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(NO_SUCH_PROJECT.format(value=options["project"]))
        encoder = embedding_encoder_for(project=project)
        total = images_without_embedding(project=project, encoder=encoder).count()
        with tqdm(total=total, desc=f"Embedding {project.name}", unit="image", disable=None) as bar:
            count = image_embeddings_compute(project=project, on_progress=bar.update)
        self.stdout.write(self.style.SUCCESS(EMBEDDED.format(count=count, name=project.name, encoder=encoder)))
