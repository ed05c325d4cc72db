"""opscore-loadtest: synthetic load and SLO verification harness for the OpsCore API."""

__version__ = "0.1.0"
