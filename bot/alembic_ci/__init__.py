"""alembic-ci: replay Alembic migrations on a real MySQL server and guard them in CI."""

__version__ = "0.1.0"
