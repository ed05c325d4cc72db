"""Locust's own command line and a locustfile's User classes, seen from the harness without
importing Locust (it patches the process with gevent) or running the file.

    LOCUST_OPTIONS      every option string of Locust's parser (hidden ones too): a static
                        list, checked against the installed Locust by tests/test_bad_input.py
    resolve_option      an argument as Locust's parser (argparse, allow_abbrev) reads it:
                        the option it names, an ambiguous prefix, or an unknown option
    check_pass_through  options after `--` resolved like that; one the harness owns (also when
                        abbreviated: `--run-tim 1h`), an ambiguous or an unknown one is refused
                        before anything starts
    check_scenario      the file is refused before anything starts when it cannot be read,
                        does not parse, or plainly has no User class
    read_locustfile     what a file declares, read with `ast`: whether it may define or import
                        a User class, the options it adds itself, imports we cannot see into
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtest.errors import UsageError
from loadtest.load.locustfiles import HARNESS_OWNED, check_locustfile

# `python -c 'from locust.argument_parser import get_parser; ...'` on Locust 2.47, every
# action's option strings (tests/test_bad_input.py keeps this equal to the installed Locust)
LOCUST_OPTIONS: frozenset[str] = frozenset({
    "-h", "--help", "-f", "--locustfile", "--config", "-H", "--host", "-u", "--users",
    "-r", "--spawn-rate", "-t", "--run-time", "-l", "--list", "--config-users", "--web-host",
    "--web-host-display-name", "--web-port", "-P", "--headless", "--autostart", "--autoquit",
    "--headful", "--web-auth", "--web-login", "--tls-cert", "--tls-key", "--class-picker",
    "--build-path", "--legacy-ui", "--master", "--master-bind-host", "--master-bind-port",
    "--expect-workers", "--expect-workers-max-wait", "--enable-rebalancing", "--expect-slaves",
    "--worker", "--processes", "--slave", "--master-host", "--master-port", "--web-base-path",
    "-T", "--tags", "-E", "--exclude-tags", "--csv", "--csv-full-history", "--print-stats",
    "--only-summary", "--reset-stats", "--html", "--json", "--json-file", "--skip-log-setup",
    "--loglevel", "-L", "--logfile", "--show-task-ratio", "--show-task-ratio-json",
    "--version", "-V", "--exit-code-on-error", "-s", "--stop-timeout", "--equal-weights",
    "--profile", "--otel",
})
MAX_LOCUSTFILE_BYTES = 4 * 1024 * 1024
# the Locust plugin's options (loadtest/locust_plugin.py), known to Locust when a file
# imports it; all of them are the harness's own in `loadtest run`
PLUGIN_OPTIONS = frozenset({"--slo", "--slo-prometheus", "--slo-out", "--slo-warmup",
                            "--slo-baseline"})
# names a User class of Locust's own derives from (abstract: never run themselves)
_LOCUST_USERS = frozenset({"User", "HttpUser", "FastHttpUser"})
# bases known not to make a User
_NOT_USERS = frozenset({"object", "TaskSet", "SequentialTaskSet", "LoadTestShape",
                        "Exception", "BaseException", "ABC", "Enum", "IntEnum", "Protocol",
                        "Generic", "NamedTuple", "TypedDict", "dict", "list", "str", "int",
                        "float", "tuple", "set", "BaseModel"})


@dataclass(frozen=True)
class Resolved:
    arg: str
    option: str | None            # the option it names (None: a value or a class name)
    candidates: tuple[str, ...] = ()  # an ambiguous prefix: what it could be
    unknown: bool = False         # looks like an option, names none we know


def resolve_option(arg: str, known: frozenset[str] | set[str]) -> Resolved:
    """`arg` as argparse (Python 3.11, allow_abbrev=True) classifies it, given the parser's
    option strings `known`: Locust's own parser does exactly this."""
    if not arg or arg[0] != "-" or arg == "-":
        return Resolved(arg, None)
    if arg in known:
        return Resolved(arg, arg)
    if "=" in arg and arg.split("=", 1)[0] in known:
        return Resolved(arg, arg.split("=", 1)[0])
    if arg.startswith("--"):
        prefix = arg.split("=", 1)[0]
        matches = sorted(o for o in known if o.startswith(prefix))
    else:  # -u5000 is -u with 5000; a longer single-dash prefix may name a long option
        matches = sorted({o for o in known if o == arg[:2] or o.startswith(arg)})
    if len(matches) == 1:
        return Resolved(arg, matches[0])
    if len(matches) > 1:
        return Resolved(arg, None, tuple(matches))
    if _number(arg) or " " in arg:  # argparse reads these as values
        return Resolved(arg, None)
    return Resolved(arg, None, unknown=True)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class LocustfileFacts:
    may_have_users: bool            # False: plainly no User class is defined or imported
    declared_options: frozenset[str]  # option strings it adds itself (add_argument literals)
    opaque: bool                    # it imports modules that may add options we cannot see


def _base_name(node: ast.expr) -> str | None:
    """The last name of a base class expression (`locust.HttpUser` -> HttpUser)."""
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, with those inside if/try/with blocks (not in functions)."""
    out: list[ast.stmt] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        out.append(node)
        for attr in ("body", "orelse", "finalbody", "handlers"):
            for child in getattr(node, attr, []) or []:
                if isinstance(child, ast.stmt | ast.ExceptHandler) and \
                        not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                       | ast.ClassDef):
                    if isinstance(child, ast.ExceptHandler):
                        todo.extend(child.body)
                    else:
                        todo.append(child)
                elif isinstance(child, ast.ClassDef):
                    todo.append(child)
    return out


def _is_locust_module(module: str) -> bool:
    return module == "locust" or module.startswith("locust.")


def _is_stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names


def read_locustfile(tree: ast.Module) -> LocustfileFacts:
    """What a parsed locustfile declares. Conservative: anything we cannot see into (a star
    import, a class deriving from something imported from elsewhere) counts as a possible
    User class, so a valid file is never refused."""
    classes: dict[str, list[str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            classes.setdefault(node.name, []).extend(_base_name(b) for b in node.bases)
    imported_from_locust: set[str] = set()
    possible = False
    opaque = False
    for node in _top_level(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            local_or_other = node.level > 0 or not (_is_locust_module(module)
                                                    or _is_stdlib(module)
                                                    or module.startswith("loadtest"))
            opaque = opaque or local_or_other
            for alias in node.names:
                bound = alias.asname or alias.name
                if alias.name == "*":
                    possible = possible or not _is_stdlib(module)
                elif _is_locust_module(module):
                    imported_from_locust.add(bound)
                elif not _is_stdlib(module) and bound not in classes:
                    # a name from another module may be a User class Locust will find
                    possible = possible or alias.name[:1].isupper()
        elif isinstance(node, ast.Import):
            opaque = opaque or any(not (_is_locust_module(a.name) or _is_stdlib(a.name)
                                        or a.name.startswith("loadtest"))
                                   for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = _base_name(node.value) if node.value is not None else None
            if any(isinstance(t, ast.Name) and t.id.endswith("User") for t in targets) or \
                    (value is not None and value.endswith("User")
                     and value not in _LOCUST_USERS):
                possible = True

    def user_like(name: str | None, seen: frozenset[str] = frozenset()) -> bool:
        if name is None:
            return True  # a base we cannot read (a call, an expression)
        if name in seen:
            return False
        if name in classes:
            return any(user_like(b, seen | {name}) for b in classes[name])
        if name.endswith("User") or name.endswith("Locust"):
            return True
        if name in _NOT_USERS or name in imported_from_locust:
            return False
        return True  # imported or built elsewhere: may be a User

    if any(any(user_like(b) for b in bases) for bases in classes.values() if bases):
        possible = True
    declared = frozenset(
        arg.value for node in ast.walk(tree) if isinstance(node, ast.Call)
        and _base_name(node.func) == "add_argument" for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
        and arg.value.startswith("-"))
    return LocustfileFacts(possible, declared, opaque)


def check_scenario(path: Path) -> LocustfileFacts:
    """The locustfile before Locust starts: a regular file of at most MAX_LOCUSTFILE_BYTES,
    Python that parses, its module-level imports installed (locustfiles.check_locustfile),
    and a User class in it, unless it plainly has none (Locust would start, say "No User
    class found" and exit); what it declares, for the options after `--`."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise UsageError(f"--scenario {path}: cannot be read ({e.strerror})") from None
    if not path.is_file():
        raise UsageError(f"--scenario {path}: not a file (give a Locust file such as "
                         "scenarios/opscore.py)")
    if size > MAX_LOCUSTFILE_BYTES:
        raise UsageError(f"--scenario {path}: {size / 1024 / 1024:.1f} MB, larger than a "
                         f"locustfile may be ({MAX_LOCUSTFILE_BYTES // (1024 * 1024)} MB); is "
                         "it the right file?")
    try:
        check_locustfile(path)  # syntax errors and missing modules, with file:line
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (RecursionError, MemoryError, ValueError, SyntaxError) as e:
        raise UsageError(f"--scenario {path}: cannot be read as Python "
                         f"({type(e).__name__}: {str(e)[:120]}); fix the locustfile") from None
    facts = read_locustfile(tree)
    if not facts.may_have_users:
        raise UsageError(f"--scenario {path}: no User class found (define a class "
                         "deriving from HttpUser or FastHttpUser, as scenarios/opscore.py "
                         "does)")
    return facts


def check_pass_through(args: Sequence[str], facts: LocustfileFacts | None = None
                       ) -> tuple[str, ...]:
    """Locust's own options after `--`, each resolved as Locust's parser will: one that names
    (or abbreviates) an option the harness sets itself, an ambiguous prefix, or an option
    Locust does not have (unless the file may add options we cannot see) is refused."""
    declared = facts.declared_options if facts else frozenset()
    known = LOCUST_OPTIONS | PLUGIN_OPTIONS | declared
    for arg in args:
        if arg == "--":  # argparse: everything after it is positional
            break
        r = resolve_option(arg, known)
        if arg.startswith("--"):
            shown = arg.split("=", 1)[0]
        else:
            shown = arg[:2] if r.option and len(r.option) == 2 else arg
        if r.option is not None and r.option in HARNESS_OWNED and r.option not in declared:
            named = "" if shown == r.option else f" ({r.option})"
            raise UsageError(f"Locust option {shown}{named} after --: the harness sets it "
                             f"itself; use {HARNESS_OWNED[r.option]}")
        if r.candidates:
            owned = [c for c in r.candidates if c in HARNESS_OWNED and c not in declared]
            hint = (f"; {owned[0]} is the harness's own: use {HARNESS_OWNED[owned[0]]}"
                    if owned else "; write it in full")
            raise UsageError(f"Locust option {shown} after --: ambiguous, it could be "
                             f"{', '.join(r.candidates)}{hint}")
        if r.unknown and not (facts and facts.opaque):
            raise UsageError(f"Locust option {shown} after --: Locust has no such option "
                             "(`locust --help` lists them; put the harness's own options "
                             "before --)")
    return tuple(args)
