"""Client attributes: static and time-varying values, contracts, roles, point in time."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from attributes_project import YAML, attribute_project, features_at
from segmint.config import load_config
from segmint.errors import ConfigError, ProtectedAttributeError
from segmint.sources import attribute_catalog, protected_attribute_features


@pytest.fixture
def project(tmp_path):
    return attribute_project(tmp_path)


def test_time_varying_values_are_read_as_of_each_date(project):
    jan, feb, mar = (features_at(project, d) for d in ("2024-01-31", "2024-02-20", "2024-03-31"))
    assert (jan["a"]["attr_mosaic"], feb["a"]["attr_mosaic"], mar["a"]["attr_mosaic"]) == (
        "B05", "C11", "C11")
    assert pd.isna(jan["b"]["attr_mosaic"]) and mar["b"]["attr_mosaic"] == "H34"
    assert jan["a"]["attr_score"] == 0.7  # the later 'high' was quarantined
    assert mar["a"]["attr_score"] == 0.7
    # static values, built-in demographics (age at as_of from the birth year)
    assert (mar["a"]["attr_risk"], mar["a"]["attr_income"], mar["a"]["attr_vip"]) == ("low", 52000.5, 1.0)
    assert (mar["b"]["attr_vip"], mar["b"]["attr_age_band"], mar["a"]["attr_age_band"]) == (0.0, "25_34", "35_44")
    assert (mar["a"]["attr_region"], mar["a"]["attr_gender"]) == ("north", "F")
    assert pd.isna(mar["c"]["attr_risk"]) and pd.isna(mar["c"]["attr_age_band"])


def test_attribute_contracts_quarantine_unknown_and_unparseable(project):
    with project.warehouse(read_only=True) as wh:
        rows = wh.con.execute(
            "SELECT source_row, reason, column_name FROM quarantine WHERE entity = 'attributes' "
            "ORDER BY source_row"
        ).fetchall()
        assert wh.con.execute("SELECT count(*) FROM attributes").fetchone()[0] == 4
        catalog = {a["feature"]: a for a in attribute_catalog(wh)}
        protected = protected_attribute_features(wh)
    assert rows == [(4, "unparseable_value", "value"), (5, "unknown_attribute", "attribute")]
    assert catalog["attr_mosaic"]["time_varying"] and catalog["attr_income"]["role"] == "profile"
    assert protected == {"attr_age_band": "birth_year", "attr_gender": "gender",
                         "attr_ethnicity": "attributes:ethnicity"}


@pytest.mark.parametrize(
    ("dimension", "problem"),
    [
        ("{name: b, kind: learned, inputs: [attr_ethnicity, attr_risk]}",
         "'attr_ethnicity' matches 'attr_ethnicity', a protected attribute"),
        ("{name: b, kind: learned, inputs: ['attr_*']}", "a protected attribute|a profile attribute"),
        ("{name: b, kind: rules, default: x, rules: [{segment: y, when: \"attr_income > 1\"}]}",
         "'attr_income' is a profile attribute"),
        ("{name: b, kind: rules, default: x, rules: [{segment: y, when: \"attr_gender = 'F'\"}]}",
         "'attr_gender' is a protected attribute"),
    ],
)
def test_protected_and_profile_attributes_are_no_inputs(tmp_path, dimension, problem):
    (tmp_path / "segmint.yaml").write_text(YAML + f"segmentation:\n  dimensions: [{dimension}]\n")
    with pytest.raises(ConfigError, match=problem):
        load_config(tmp_path / "segmint.yaml")


def test_a_protected_attribute_is_refused_when_a_dimension_is_fitted(project):
    from segmint.config import SegmentationConfig
    from segmint.segmentation import run_segmentation

    project.snapshot_features("2024-03-31")
    # built directly (not through the project file's checks): the fit still refuses
    config = SegmentationConfig.model_validate({
        "include_defaults": False,
        "dimensions": [{"name": "b", "kind": "learned", "inputs": ["attr_income", "attr_age_band"]}],
    })
    with project.warehouse() as wh, pytest.raises(ProtectedAttributeError, match="attr_age_band"):
        run_segmentation(wh, config)


def test_attribute_names_are_checked(tmp_path):
    bad = YAML.replace("risk: {type: categorical, role: input}", "region: {type: categorical}")
    (tmp_path / "segmint.yaml").write_text(bad)
    with pytest.raises(ConfigError, match="attributes.region: 'region' is a built-in"):
        load_config(tmp_path / "segmint.yaml")
    undeclared = YAML.replace("    columns: {client_id: id, onboarded_at: since, risk: risk,",
                              "    columns: {client_id: id, onboarded_at: since, risk: risk, tier: t,")
    (tmp_path / "segmint.yaml").write_text(textwrap.dedent(undeclared))
    with pytest.raises(ConfigError, match="entities.clients.columns.tier: not a column of clients"):
        load_config(tmp_path / "segmint.yaml")
