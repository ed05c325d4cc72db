# This repository's image (the harness, slo/opscore.yaml) with Flagger's load tester binary,
# which runs a webhook's `cmd` and answers 200 on exit 0. Build from the repository root:
#   docker build -t opscore-loadtest:0.1.0 .
#   docker build -f examples/canary/flagger-loadtester.Dockerfile -t opscore-loadtester:0.1.0 .
ARG LOADTESTER=ghcr.io/fluxcd/flagger-loadtester:0.35.0
FROM ${LOADTESTER} AS flagger
FROM opscore-loadtest:0.1.0
COPY --from=flagger /home/app/loadtester /usr/local/bin/loadtester
ENTRYPOINT ["loadtester"]
CMD ["-port=8080", "-log-level=info", "-timeout=1h"]
