#!/bin/sh
# The image's entrypoint: the harness's commands and Locust's own argument style, one image.
#   IMAGE run --target URL ...          -> loadtest run --target URL ...   (any loadtest command)
#   IMAGE worker --master-host HOST     -> loadtest worker --master-host HOST
#   IMAGE locust -f scenarios/opscore.py --master ...  -> locust -f ... --master ...
#   IMAGE --locustfile F --master ...   -> locust --locustfile F --master ...  (options first:
#                                          what Locust's operator and Helm chart pass as args)
#   IMAGE --version / --help            -> loadtest --version / --help
set -e
case "${1:-}" in
  "") exec loadtest --help ;;
  locust) shift; exec locust "$@" ;;
  --version|--help|-h) exec loadtest "$@" ;;
  -*) exec locust "$@" ;;
  *) exec loadtest "$@" ;;
esac
