# syntax=docker/dockerfile:1
#
# Nabla's image: one uvicorn process (`python -m app`) serving on port 8000.
# Scale with replicas (deploy/kubernetes/), not with workers inside one container.
#
#   docker build -t nabla:0.1.0 .
#   docker run --rm -p 8000:8000 nabla:0.1.0
#
# `make test` lints this file (hadolint) and builds and starts it without Docker:
# tests/test_image.py carries out these instructions with scripts/replay_dockerfile.py.

FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /src

# The runtime dependencies exactly as locked (`make lock`; `make run` installs the same file):
# every version pinned, every file checked against its hash, wheels only (the final stage has
# no compiler). The project itself is not installed: `python -m app` imports `app/` from the
# working directory. This layer is rebuilt only when the lock changes, not on code edits.
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir --require-hashes --only-binary=:all: \
    --requirement requirements.lock

FROM python:3.11-slim

# NABLA_HOST and NABLA_PORT are read by `python -m app`: all interfaces, inside a container.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:$PATH" \
    NABLA_HOST=0.0.0.0 \
    NABLA_PORT=8000

# A fixed numeric UID, so that Kubernetes' runAsNonRoot can verify it (deployment.yaml uses it).
RUN groupadd --system --gid 10001 nabla \
    && useradd --system --uid 10001 --gid nabla --no-create-home --shell /usr/sbin/nologin nabla

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root: the service user can read it but not rewrite it.
COPY app/ ./app/

USER 10001:10001
EXPOSE 8000

# For `docker run` and Compose; Kubernetes ignores HEALTHCHECK and uses the probes instead.
# The slim image has no curl: urlopen raises on a refused connection or a non-2xx status.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]

# Exec form: Python is PID 1 and receives SIGTERM itself, then lets requests in flight finish.
# app/__main__.py holds the server's options for this image and `make run` alike: the JSON-400
# protocol (app.protocol:HttpProtocol), the graceful-shutdown timeout, no access log.
CMD ["python", "-m", "app"]
