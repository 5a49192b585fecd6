# syntax=docker/dockerfile:1
#
# Nabla's image: one uvicorn process serving app.main:app on port 8000.
# Scale with replicas (deploy/kubernetes/), not with workers inside one container.
#
#   docker build -t nabla:0.1.0 .
#   docker run --rm -p 8000:8000 nabla:0.1.0

FROM python:3.11-slim AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /src

# Dependency layer, rebuilt only when pyproject.toml or README.md change.
# The dependencies come from the same `pip install` of the same pyproject.toml as `make run`
# (`python -m pip install --editable .`); here the install is non-editable, and both install
# exactly the dependencies declared in pyproject.toml, no requirements file, no extra names.
# pyproject.toml lists `packages = ["app"]`, so setuptools needs an `app` package to build:
# an empty stub stands in for the code, which lets this layer stay cached across code edits.
# The stub distribution is then uninstalled again, keeping only its dependencies, so that the
# final stage imports the real `app/` from its working directory (as the editable install of
# `make run` imports it from the source tree) and no empty `app` package shadows it.
COPY pyproject.toml README.md ./
RUN mkdir app \
    && touch app/__init__.py \
    && python -m pip install --no-cache-dir . \
    && python -m pip uninstall --yes nabla

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:$PATH"

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

# Exec form: uvicorn is PID 1 and receives SIGTERM directly for a graceful shutdown.
# `--http app.protocol:HttpProtocol`: requests uvicorn cannot parse get a JSON 400 too.
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", \
     "--http", "app.protocol:HttpProtocol"]
