"""The load: its plan and shape, the open-model schedule, the Locust runner (a subprocess), one
load phase from start to settle (against the stack that stack/open.py opens), the generator's
health and the live status line. Nothing here imports Locust: locustlib/ is the code inside the
Locust process."""
