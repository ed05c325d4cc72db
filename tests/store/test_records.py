"""The records the code builds (store/records.py, TypedDicts mypy checks) and the model that
validates a file when it is read (store/model.py, pydantic) agree: every field the model
names is a key of the record of the same section, and results.json files (one written before
the model existed, one the tests make up) hold only keys the records name, with the types
they give."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from loadtest.store import model, records
from tests.support import ROOT, made_up_results

OLD = ROOT / "tests" / "data" / "results-v1-before-model.json"

PAIRS: list[tuple[type[BaseModel], Any]] = [
    (model.Results, records.ResultsRecord), (model.Run, records.RunMeta),
    (model.Window, records.WindowRecord), (model.Verdict, records.VerdictRecord),
    (model.Objective, records.ObjectiveRecord), (model.Regression, records.RegressionRecord),
    (model.Load, records.LoadRecord), (model.Settle, records.SettleRecord),
    (model.SettledObjective, records.SettledObjectiveRecord),
]


@pytest.mark.parametrize(("section", "record"), PAIRS, ids=lambda p: p.__name__)
def test_every_field_the_model_names_is_a_key_of_its_record(section: type[BaseModel],
                                                             record: Any) -> None:
    keys = set(typing.get_type_hints(record))
    assert set(section.model_fields) <= keys, (
        f"{section.__name__} names {sorted(set(section.model_fields) - keys)}, which "
        f"{record.__name__} does not")


def _unknown_keys(value: object, hint: Any, where: str) -> list[str]:
    """What of `value` (JSON data) the type `hint` does not describe: keys a TypedDict does
    not name, required keys missing, and values of another type."""
    origin = typing.get_origin(hint)
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        hints = typing.get_type_hints(hint)
        out = [f"{where}.{k}" for k in value if k not in hints]
        extras = typing.get_type_hints(hint, include_extras=True)  # NotRequired in a string
        required = {k for k in hint.__required_keys__  # annotation: not seen by 3.11 itself
                    if typing.get_origin(extras[k]) is not typing.NotRequired}
        out += [f"{where}.{k} missing" for k in sorted(required) if k not in value]
        for k, v in value.items():
            if k in hints:
                out += _unknown_keys(v, hints[k], f"{where}.{k}")
        return out
    if origin in (typing.Union, types.UnionType):
        found = [_unknown_keys(value, h, where) for h in typing.get_args(hint)]
        return min(found, key=len)
    if origin is typing.Literal:
        return [] if value in typing.get_args(hint) else [f"{where}: {value!r}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        (item,) = typing.get_args(hint)
        return [k for i, v in enumerate(value) for k in _unknown_keys(v, item, f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        _, item = typing.get_args(hint)
        return [k for n, v in value.items() for k in _unknown_keys(v, item, f"{where}[{n}]")]
    if hint is type(None):
        return [] if value is None else [f"{where}: not null"]
    if hint is float:  # JSON has numbers: an int is a float here (as mypy has it)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: not a number"]
    if hint in (int, str, bool):
        ok = isinstance(value, hint) and (hint is bool or not isinstance(value, bool))
        return [] if ok else [f"{where}: not {hint.__name__}"]
    return []  # object: anything


@pytest.mark.parametrize("which", ["before the model", "made up"])
def test_results_files_are_what_the_records_say(which: str) -> None:
    data = json.loads(OLD.read_text()) if which == "before the model" else \
        {"schema_version": 1, **json.loads(json.dumps(made_up_results()))}
    model.Results.model_validate(data)
    assert _unknown_keys(data, records.ResultsRecord, "results") == []


def test_an_unknown_key_is_found() -> None:
    data = json.loads(OLD.read_text())
    data["objectives"][0]["extra"]["new_figure"] = 1.0
    data["load"]["new_section"] = {}
    data["verdict"]["exit_code"] = "1"
    assert _unknown_keys(data, records.ResultsRecord, "results") == [
        "results.load.new_section", "results.objectives[0].extra.new_figure",
        "results.verdict.exit_code: not int"]
