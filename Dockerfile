# feedback-api: slim image, non-root, `feedback-api serve`.
# Point it at PostgreSQL with FEEDBACK_DATABASE_URL (see compose.yaml); the embedded server is
# meant for a laptop, not for a container.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 feedback
COPY --from=build /install /usr/local
USER feedback
WORKDIR /home/feedback
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
# Migrations run in their own one-shot service (compose.yaml), hence --no-migrate.
CMD ["feedback-api", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]
