"""`--grafana-url`: the run's annotation (reports/grafana.py, the body written beside the run as
grafana-annotation.json) POSTed to Grafana's HTTP API at the run's end, with the token from
LOADTEST_GRAFANA_TOKEN (a service account token; never an option, never in output). A post that
fails is a warning of the run."""

from __future__ import annotations

import os

import httpx

from loadtest.reports.grafana import Annotation
from loadtest.store.records import AnnotationPost

TIMEOUT_S = 5.0


def post_annotation(grafana_url: str, body: Annotation) -> AnnotationPost:
    """What became of the post: the URL, Grafana's status and the annotation's id, or the
    error."""
    url = f"{grafana_url.rstrip('/')}/api/annotations"
    token = os.environ.get("LOADTEST_GRAFANA_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.post(url, json=body, headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as e:
        return AnnotationPost(url=url, error=f"{type(e).__name__}: {str(e)[:160]}")
    if not 200 <= answer.status_code < 300:
        return AnnotationPost(url=url, status=answer.status_code,
                              error=f"HTTP {answer.status_code}: {answer.text[:160].strip()}")
    try:
        found = answer.json().get("id")
    except (ValueError, AttributeError):
        found = None
    return AnnotationPost(url=url, status=answer.status_code, id=found)
