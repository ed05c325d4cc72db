"""The load generator's own figures as Prometheus series, live: computed in the harness process
from what it already reads once a second (the sample and task files, Locust's history row,
the load processes' CPU, the objectives' live states), never inside Locust.

    figures.py       the series: counters, histograms and gauges, labelled run_id/scenario
    endpoint.py      pull: /metrics on a free loopback port (the local Prometheus scrapes it)
    remote_write.py  push: Prometheus remote write 1.0 (protobuf WriteRequest, snappy)
    exporter.py      the hook the load loop calls once a second, and the run's end
"""
