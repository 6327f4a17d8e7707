"""A small project with static and time-varying client attributes (tests of issue 14)."""

from __future__ import annotations

from pathlib import Path

from segmint import Project
from segmint.features import DuckDBEngine, compute_features

CLIENTS = """\
id,since,risk,income,vip,birth,gender,region
a,2020-01-01,low,52000.5,yes,1980,F,north
b,2021-06-01,high,31000,no,1999,M,south
c,2022-01-01,,,,,,
"""

# a's grade changes mid-history; b's is only known from March; one undeclared, one bad value
OVERLAY = """\
client,attribute,value,valid_from
a,mosaic,B05,2023-01-01
a,mosaic,C11,2024-02-15
b,mosaic,H34,2024-03-01
a,score,0.7,2024-01-01
a,score,high,2024-02-01
a,shoe_size,42,2024-01-01
"""

YAML = """\
contracts: {max_date: 2024-12-31}
sources:
  crm: {path: clients.csv}
  overlay: {path: overlay.csv}
attributes:
  risk: {type: categorical, role: input}
  income: {type: numeric, role: profile, unit: EUR}
  vip: {type: boolean}
  mosaic: {type: categorical, role: profile}
  score: {type: numeric}
  ethnicity: {type: categorical, role: protected}
entities:
  clients:
    source: crm
    columns: {client_id: id, onboarded_at: since, risk: risk, income: income, vip: vip,
              birth_year: birth, gender: gender, region: region}
  attributes:
    source: overlay
    columns: {client_id: client, attribute: attribute, value: value, valid_from: valid_from}
"""



def attribute_project(root: Path) -> Project:
    """Write the project under ``root`` and ingest it."""
    (root / "clients.csv").write_text(CLIENTS)
    (root / "overlay.csv").write_text(OVERLAY)
    (root / "segmint.yaml").write_text(YAML)
    project = Project.from_yaml(root)
    project.ingest()
    return project


def features_at(project, as_of, engine=None):
    with project.warehouse() as wh:
        f = compute_features(engine(wh) if engine else DuckDBEngine(wh.con), as_of,
                             project.config.features)
    return {r["client_id"]: r for r in f.to_dict("records")}
