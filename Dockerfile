# The harness and the reference OpsCore target in one image: `loadtest ...` commands and
# Locust's own argument style through one entrypoint (deploy/docker/entrypoint.sh), as a
# non-root user (uid 10001, numeric so that Kubernetes' runAsNonRoot can check it), with the
# scenarios and SLO files in /app (the working directory). docker-compose.yml uses it for
# `backend`, the `loadtest` gate and `locust-master`/`locust-worker`; examples/kubernetes/ for
# the gate Job and its workers.
FROM python:3.11.9-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY loadtest ./loadtest
RUN pip install --no-cache-dir .
COPY scenarios ./scenarios
COPY slo ./slo
COPY deploy/docker/entrypoint.sh /usr/local/bin/loadtest-entrypoint
RUN chmod 0755 /usr/local/bin/loadtest-entrypoint \
    && useradd --uid 10001 --create-home loadtest \
    && mkdir -p /app/reports && chown loadtest /app/reports
USER 10001
ENTRYPOINT ["loadtest-entrypoint"]
CMD ["--help"]
