import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Four users a test with the real PBKDF2 cost about two seconds; MD5 is enough here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
