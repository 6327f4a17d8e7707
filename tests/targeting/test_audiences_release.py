"""Audience counts as released (list, show, overlap, the CLI): no count below the minimum,
no suppressed or small implied count recoverable, the same counts in every view."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest
from typer.testing import CliRunner

from segmint.config import AudienceConfig
from segmint.disclosure import SUPPRESSED, determined_cells
from segmint.targeting import audience_overlap, build_audience, list_audiences, show_audience

D = dt.date(2025, 12, 31)


def _aud(**kw) -> AudienceConfig:
    return AudienceConfig.model_validate(kw)


AUDS = {
    # 200 and 205 of the same ranking: 205 - 200 would give the 5 of "wide" outside "top"
    "top": _aud(segments={"value": ["Top", "High"]}, size=200, rank_by="value"),
    "wide": _aud(segments={"value": ["Top", "High"]}, size=205, rank_by="value"),
    "few": _aud(segments={"value": ["Top"]}, size=4, rank_by="value"),
}


@pytest.fixture
def built(cycled):
    with cycled.warehouse() as wh:
        for name in AUDS:
            build_audience(wh, name, AUDS, as_of=D)
        build_audience(wh, "top", AUDS, as_of=D)  # a second version: changes
        raw = audience_overlap(wh, min_cell=1)
    return cycled, raw


def _ok(x) -> bool:
    return x is None or x != x or x == 0 or x >= 10


def test_overlap_hand_computed_and_checked(built):
    project, raw = built
    assert raw.loc["top", "wide"] == 200 and raw.loc["wide", "wide"] == 205
    assert raw.loc["few", "few"] == 4
    with project.warehouse() as wh:
        ov = audience_overlap(wh, min_cell=10)
        listed = list_audiences(wh, AUDS, min_cell=10).set_index("audience")
    # the 4-client audience and its overlaps; "wide" outside "top" is 205 - 200 = 5, and as
    # "top" lies inside "wide" their overlap is top's size: wide's size must go
    assert ov.isna().loc["few"].all() and ov.isna().loc[:, "few"].all()
    assert ov.isna().loc["wide", "wide"] and ov.loc["top", "top"] == 200 and ov.loc["top", "wide"] == 200
    assert all(_ok(v) for v in ov.to_numpy(dtype=float, na_value=np.nan).ravel())
    # the same sizes in the list
    for a in AUDS:
        assert listed.isna().loc[a, "members"] == ov.isna().loc[a, a]
    assert listed.loc["few", "suppressed"]
    # per pair: the 2x2 table (in a?, in b?) with a's and b's sizes as its released margins
    for a, b in itertools.permutations(AUDS, 2):
        x, sa, sb = raw.loc[a, b], raw.loc[a, a], raw.loc[b, b]
        cells = np.array([[x, sa - x], [sb - x, 0]])
        hidden = np.array([[ov.isna().loc[a, b], sa - x > 0], [sb - x > 0, True]])
        det = determined_cells(hidden, np.array([not ov.isna().loc[a, a], False]),
                               np.array([not ov.isna().loc[b, b], False]), False)
        small = (cells > 0) & (cells < 10)  # implied counts that must stay unknown
        assert not (det & small).any(), (a, b)
        assert not (ov.isna().loc[a, b] and det[0, 0] and x > 0), (a, b)


def test_show_releases_nothing_small(built):
    project, _ = built
    with project.warehouse() as wh:
        latest = show_audience(wh, "top", min_cell=10)
        few = show_audience(wh, "few", min_cell=10)
        raw = show_audience(wh, "top", min_cell=1)
    assert few["members"] is None and "members" in few["suppressed"]
    assert latest["members"] == 200 and latest["changes"]["kept"] == 200
    counts = [latest["members"], latest["holdout"], *latest["counts"].values(),
              *latest["changes"].values(), *latest["segments"].members.astype(float).tolist()]
    assert all(_ok(v) for v in counts)
    # each dimension's mix is one row of counts released with its total (the members)
    for dim, part in raw["segments"].groupby("dimension"):
        shown = latest["segments"][latest["segments"].dimension == dim]
        hidden = shown.members.isna().to_numpy()[None, :]
        assert part.members.sum() == 200 or hidden.sum() != 1  # every member has a segment
        det = determined_cells(hidden, np.array([True]), np.zeros(hidden.shape[1], bool), True)
        assert not det.any(), dim


def test_cli_prints_suppressed(built):
    from segmint.cli import app

    project, _ = built
    runner = CliRunner()
    path = str(project.root / "segmint.yaml")
    out = runner.invoke(app, ["audience", "show", "few", "-p", path])
    assert out.exit_code == 0, out.output
    assert f"{SUPPRESSED} members" in out.output and "Counts of 1 to 9 clients" in " ".join(out.output.split())
    out = runner.invoke(app, ["audience", "overlap", "-p", path])
    assert out.exit_code == 0 and SUPPRESSED in out.output
    out = runner.invoke(app, ["audience", "list", "-p", path])
    assert out.exit_code == 0 and SUPPRESSED in out.output
