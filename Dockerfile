# Production image: web (ASGI, uvicorn), Celery worker and beat share it.
FROM python:3.12-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /app

# The CPU build of torch (the default PyPI wheel carries several GB of CUDA libraries).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY config ./config
COPY documents ./documents
COPY chat ./chat
COPY api ./api
COPY audit ./audit
COPY evaluation ./evaluation
RUN pip install .

COPY manage.py ./
COPY templates ./templates
COPY static ./static
RUN STATIC_MANIFEST=1 SECRET_KEY=collectstatic-only DATABASE_URL=postgres://unused/unused \
    python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 docent && mkdir -p /data/media && chown -R docent /data
USER docent

EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--proxy-headers"]
