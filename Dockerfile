# The bcpages image: one image for every process of the scaled-out deployment
# (Daphne, runworker, the one-shot migrate); docker-compose.yml and
# docs/deployment.md say which command each one runs.
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the project runs from (no .venv, tests, benchmarks or databases of
# a working copy). README.md is the package's readme in pyproject.toml.
COPY pyproject.toml README.md manage.py ./
COPY bcpages ./bcpages
COPY tasks ./tasks
COPY static ./static
COPY templates ./templates

# [scale]: channels_redis and psycopg, for Redis and PostgreSQL. Every
# dependency ships wheels, so the slim image needs no compiler.
RUN pip install -e ".[scale]"

# Child sessions are forked processes of the worker; none of them needs root.
RUN useradd --create-home --uid 10001 bcpages
USER bcpages

EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "bcpages.asgi:application"]
