"""Backup and restore of a whole segloop installation: `manage.py backup` and `manage.py restore`."""
