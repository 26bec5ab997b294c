# The image of the alembic-ci GitHub Action (action.yml: `runs: using: docker, image: Dockerfile`).
# GitHub builds it on the runner from this repository; scripts/build-image builds the same file
# without a Docker engine for CI.
#
# Base pinned by a dated tag (Debian 12 as of 2025-05-20). To pin the digest as well, append the
# one `docker buildx imagetools inspect debian:bookworm-20250520-slim` prints:
#   FROM debian:bookworm-20250520-slim@sha256:<digest>
# (not done here: CI builds on a local stand-in for this tag, which has a different digest).
FROM debian:bookworm-20250520-slim

# mariadb-server-core: mariadbd and mariadb-install-db for the embedded default server (no daemon
# set-up, no init scripts); mariadb-client-core: my_print_defaults, which mariadb-install-db runs;
# git: --base-ref reads the base commit's migrations; python3-venv: Python 3.11 with pip.
# Versions are pinned to Debian 12's series (bookworm's point releases only bring security fixes
# within them); exact versions would stop building as soon as the archive drops them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      git=1:2.39.* \
      mariadb-client-core=1:10.11.* \
      mariadb-server-core=1:10.11.* \
      python3-venv=3.11.* \
 && rm -rf /var/lib/apt/lists/*

# The venv first on PATH: the `install` input's pip puts the project's dependencies next to
# alembic-ci. No __pycache__ written as root into the user's workspace (it breaks later checkouts
# on self-hosted runners); unbuffered output keeps the log in order with the workflow commands.
ENV VIRTUAL_ENV=/opt/alembic-ci \
    PATH=/opt/alembic-ci/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY docker/constraints.txt /src/docker/constraints.txt
COPY pyproject.toml README.md /src/
COPY bot /src/bot

# On GitHub the packages come from PyPI, at the exact versions of docker/constraints.txt (also
# applied to setuptools in pip's isolated build). WHEELS, optional, names a folder of wheels to
# install from instead, with no index at all: scripts/build-image mounts one downloaded on the
# host, because the build container here cannot reach PyPI. pip reads both from its environment.
ARG WHEELS=""
RUN if [ -n "$WHEELS" ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS"; fi \
 && python3 -m venv "$VIRTUAL_ENV" \
 && PIP_CONSTRAINT=/src/docker/constraints.txt pip install --no-cache-dir "/src/[action]" \
 && rm -rf /src/build /src/bot/*.egg-info

ENTRYPOINT ["alembic-ci", "action"]
