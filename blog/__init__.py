"""The demo project: the blog from the Alembic tutorial alembic-ci grew from."""
