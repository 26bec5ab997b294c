from alembic_ci.cli import run

run()
