"""Loaded by Locust next to the user's own file (`locust -f theirs.py,<this file>`) when
`loadtest run` drives it: the harness's code enters the Locust process without editing the
file. It defines no User class; everything lives in loadtest.locustlib.adopt (imported once,
under its package name). This file sits alone in its folder: Locust puts the folder of every
locustfile on sys.path, and nothing here may shadow a module of the user's.
"""

import loadtest.locustlib.adopt  # noqa: F401 - registers the listeners
