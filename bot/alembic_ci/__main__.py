from alembic_ci.cli import main

raise SystemExit(main())
