"""`loadtest slo import FILE`: an OpenSLO v1 file as the equivalent native SLO file, for teams
that want to add the harness's own kinds (client, capacity hints, abort_after) to it."""

from __future__ import annotations

from pathlib import Path

import yaml

from loadtest.errors import ConfigError, UsageError
from loadtest.inputs import MAX_YAML_BYTES, read_text
from loadtest.openslo import is_openslo, openslo_to_native
from loadtest.slo import parse_slo
from loadtest.store.results import write_out_option


def import_openslo(path: Path) -> str:
    """The native SLO file's text; checked by reading it back as the harness would."""
    try:
        text = read_text(path, "SLO file", MAX_YAML_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such OpenSLO file") from None
    if not is_openslo(text):
        raise UsageError(f"{path}: not an OpenSLO file (no `apiVersion: openslo/v1`); a native "
                         "SLO file needs no import (check it with `loadtest slo check`)")
    native = openslo_to_native(text, str(path))
    parse_slo(text, str(path))  # refused here as --slo would refuse it
    header = (f"# Converted by `loadtest slo import {path}` from OpenSLO v1.\n"
              "# ratio/threshold objectives hold the OpenSLO queries as written; counters are\n"
              "# judged as their increase over the test window. `notes` name what a test\n"
              "# window does not use. Add the harness's own kinds (client, abort_after) here.\n")
    body = yaml.safe_dump(native, sort_keys=False, allow_unicode=True, width=100)
    out = header + body
    parse_slo(out, f"{path} (converted)")  # the written file reads back as the same objectives
    return out


def write_import(path: Path, out: Path | None) -> str:
    """Write the native file to `out` (None: return it for stdout)."""
    text = import_openslo(path)
    if out is not None:
        write_out_option(out, text)
    return text
