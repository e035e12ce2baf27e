"""The database part of a backup: every row of segloop's and the users' tables in Django's JSON
fixture format (what `dumpdata` writes and `loaddata` reads), so a backup of SQLite restores
into PostgreSQL and back.

Primary keys are kept (file names hold project and image ids); references to content types and
permissions go by natural key, since each database numbers those itself when it is migrated.
Left out: content types and permissions (made by `migrate`), sessions, the admin's log and
django-axes' login attempts.
"""

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.serializers import json as json_serializer
from django.core.serializers import sort_dependencies
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import FileField, Model, Q, signals

from webapp.backup.manifest import MEDIA_PREFIX, MODELS_PREFIX

EXCLUDED_APPS = frozenset({"contenttypes", "sessions", "admin", "axes"})
EXCLUDED_MODELS = frozenset({"auth.permission"})
CHUNK_ROWS = 2000
# Columns that name a checkpoint relative to MODELS_ROOT (file fields name media files).
CHECKPOINT_FIELDS = {"training.modelversion": ("student_path", "su_teacher_path", "ru_teacher_path")}


def backed_up_models() -> list[type[Model]]:
    """The models whose rows a backup holds, in an order that loads (natural keys first)."""
    by_app: dict[str, list[type[Model]]] = {}
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed or meta.app_label in EXCLUDED_APPS or meta.label_lower in EXCLUDED_MODELS:
            continue
        by_app.setdefault(meta.app_label, []).append(model)
    return sort_dependencies(
        ((apps.get_app_config(label), models) for label, models in by_app.items()), allow_cycles=True
    )


class _ExactSerializer(json_serializer.Serializer):
    """Django's JSON fixtures with datetimes and times to the microsecond (its encoder keeps
    milliseconds, and a backup should give back what it took)."""

    def get_dump_object(self, obj: Model) -> dict[str, Any]:
        data = super().get_dump_object(obj)
        data["fields"] = {name: _exact(value) for name, value in data["fields"].items()}
        return data


def _exact(value: object) -> object:
    if isinstance(value, datetime.datetime | datetime.time):
        return value.isoformat()
    return value


@contextmanager
def snapshot() -> Iterator[None]:
    """One consistent view of the database for the dump: a repeatable-read, read-only
    transaction on PostgreSQL (writers carry on); on SQLite a transaction, which makes writers
    wait until the dump is done."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def database_dump(*, stream: TextIO) -> dict[str, int]:
    """Write every backed-up row to `stream` (ASCII JSON); returns the rows per model label."""
    counts: dict[str, int] = {}

    def objects() -> Iterator[Model]:
        for model in backed_up_models():
            label = model._meta.label_lower
            counts[label] = 0
            for obj in model._base_manager.order_by("pk").iterator(chunk_size=CHUNK_ROWS):
                counts[label] += 1
                yield obj

    _ExactSerializer().serialize(objects(), stream=stream, use_natural_foreign_keys=True, ensure_ascii=True)
    return counts


def referenced_files() -> dict[str, str]:
    """The archive member name of every file that a row names (a file field: media; a checkpoint
    path: models), each with the first row that names it, as "images.image 3"."""
    found: dict[str, str] = {}
    for model in backed_up_models():
        label = model._meta.label_lower
        media = [field.name for field in model._meta.concrete_fields if isinstance(field, FileField)]
        for prefix, columns in ((MEDIA_PREFIX, media), (MODELS_PREFIX, CHECKPOINT_FIELDS.get(label, ()))):
            for column in columns:
                named = model._base_manager.filter(~Q(**{column: ""}), **{f"{column}__isnull": False})
                for pk, name in named.order_by("pk").values_list("pk", column).iterator(chunk_size=CHUNK_ROWS):
                    found.setdefault(prefix + name, f"{label} {pk}")
    return found


def applied_migrations() -> list[tuple[str, str]]:
    return sorted(MigrationRecorder(connection).applied_migrations())


def rows_present() -> dict[str, int]:
    """The backed-up models that hold rows, with their counts: empty for a fresh database."""
    return {
        model._meta.label_lower: model._base_manager.count()
        for model in backed_up_models()
        if model._base_manager.exists()
    }


def row_counts(labels: list[str]) -> dict[str, int]:
    return {label: apps.get_model(label)._base_manager.count() for label in labels}


@contextmanager
def model_signals_muted() -> Iterator[None]:
    """No save or delete receiver runs while fixtures load. loaddata sends them with raw=True,
    and a receiver that does not look at raw would treat restored rows as new ones (the
    training app's post_save on Mask queues review and training work for each human mask)."""
    muted = (signals.pre_save, signals.post_save, signals.m2m_changed, signals.pre_delete, signals.post_delete)
    saved: list[list[Any]] = []
    for signal in muted:
        with signal.lock:
            saved.append(signal.receivers)
            signal.receivers = []
            signal.sender_receivers_cache.clear()
    try:
        yield
    finally:
        for signal, receivers in zip(muted, saved, strict=True):
            with signal.lock:
                signal.receivers = receivers
                signal.sender_receivers_cache.clear()


def database_load(fixture: Path) -> None:
    """Load the fixture (call inside a transaction), then point every sequence past the highest
    restored id, so that rows made after the restore get fresh ids (a no-op on SQLite)."""
    with model_signals_muted():
        call_command("loaddata", str(fixture), verbosity=0)
    statements = connection.ops.sequence_reset_sql(no_style(), backed_up_models())
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
