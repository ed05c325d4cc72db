"""Metrics sources: where server-side figures come from.

    base.py        MetricsSource (the interface), Matcher, Window, Figure
    histogram.py   histogram_quantile as Prometheus computes it, bucket ratios
    exposition.py  parse the Prometheus text format into flat samples
    prometheus.py  a Prometheus server, through prometheus-api-client
    embedded.py    scrape the target's /metrics ourselves (no Prometheus installed)
"""
