"""The door guard of results/report: small counts and child identifiers never get through."""

from __future__ import annotations

import pandas as pd
import pytest

from csceval.disclosure import DisclosureError, DisclosureRules, check_publishable, write_publishable_csv


def test_safe_estimates_table_passes(tmp_path):
    table = pd.DataFrame({"outcome": ["cla_rate_per_10k"], "estimate": [-3.2], "n_treated": [3], "n_control": [120]})
    path = write_publishable_csv(table, tmp_path / "t.csv")
    assert path.read_text().startswith("outcome,estimate"), "a safe table must be written"


@pytest.mark.parametrize("value", [1, 3, 5])
def test_small_count_is_refused_and_nothing_written(tmp_path, value):
    table = pd.DataFrame({"la_code": ["805", "806"], "children_count": [120, value]})
    with pytest.raises(DisclosureError, match="children_count.*row 1"):
        write_publishable_csv(table, tmp_path / "t.csv")
    assert list(tmp_path.iterdir()) == [], "a refused table must leave no file (not even a partial one)"


def test_zero_and_six_are_publishable():
    check_publishable(pd.DataFrame({"numerator": [0, 6, 120]}), "t")


@pytest.mark.parametrize(
    "table",
    [pd.DataFrame({"CHILD": ["a1"], "estimate": [1.0]}), pd.DataFrame({"LAchildID": ["x"]}), pd.DataFrame({"note": ["A123456789012"]})],
    ids=["903-child-column", "cin-child-id", "upn-value"],
)
def test_child_identifiers_are_refused(table):
    with pytest.raises(DisclosureError, match="identifier|unique pupil number"):
        check_publishable(table, "t")


def test_exempt_columns_come_from_config():
    table = pd.DataFrame({"n_treated": [3]})
    check_publishable(table, "t", DisclosureRules.from_config({"exempt_columns": ["n_treated"]}))
    with pytest.raises(DisclosureError):
        check_publishable(table, "t", DisclosureRules.from_config({"exempt_columns": []}))
