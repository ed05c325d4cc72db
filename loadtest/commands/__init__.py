"""The commands that do a job inside a session: run, capacity, slo check (what each does; the
CLI parses options and calls one of these)."""
