"""The processes a run starts and talks to: the stack a load runs against, opened once per
command (open.py), the reference target and a local Prometheus as children that end with the
harness, the preflight probes, target liveness."""
