# The harness and the reference OpsCore target in one image (docker-compose.yml uses it for
# `backend`, `locust-master`/`locust-worker` and the `loadtest` gate).
FROM python:3.11.9-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY loadtest ./loadtest
RUN pip install --no-cache-dir .
COPY scenarios ./scenarios
COPY slo ./slo
RUN useradd --create-home loadtest && mkdir -p /app/reports && chown loadtest /app/reports
USER loadtest
ENTRYPOINT ["loadtest"]
CMD ["--help"]
