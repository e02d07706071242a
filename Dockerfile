# syntax=docker/dockerfile:1
# Stage 1: front-end libraries from npm (pinned by package-lock.json), copied where pages load them.
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir -p static/vendor/swagger-ui static/vendor/redoc \
 && cp node_modules/htmx.org/dist/htmx.min.js static/vendor/ \
 && cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css static/vendor/ \
 && cp node_modules/idiomorph/dist/idiomorph-ext.min.js static/vendor/ \
 && cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css static/vendor/swagger-ui/ \
 && cp node_modules/redoc/bundles/redoc.standalone.js static/vendor/redoc/

# Stage 2: the service on a slim Python image, as a non-root user.
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# pg_dump for `prism db backup` on PostgreSQL; /backups, owned by the service user, is where
# docker-compose.yml mounts the scheduled backups volume.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin prism \
 && install -d -o prism -g prism /backups
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY app ./app
# Editable install: the package finds templates/, static/ and migrations/ beside it in /app.
RUN pip install -c requirements.lock -e .
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY --from=assets /build/static/vendor ./static/vendor
USER prism
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2).status != 200)"]
CMD ["prism", "serve", "--host", "0.0.0.0", "--port", "8000"]
