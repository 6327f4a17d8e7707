import datetime as dt

import numpy as np
import pytest
from seg_data import load_features, make_features

from segmint.config._segmentation import DimensionConfig, SegmentationConfig
from segmint.segmentation import match_centers, run_segmentation
from segmint.segmentation._identity import carry_identities, match_labels

INPUTS = [
    "frequency",
    "monetary_mean",
    "share_cat_a",
    "share_channel_web",
    "promo_share",
    "digital_share",
    "events_90d",
]


def _cfg(seed=0, **sel):
    return SegmentationConfig(
        include_defaults=False,
        seed=seed,
        sample_size=2000,
        dimensions=[
            DimensionConfig(
                name="b", kind="learned", inputs=INPUTS, selection={"n_bootstrap": 2, **sel}
            )
        ],
    )


def _by_client(run):
    a = run.assignments
    return a[a.dimension == "b"].set_index("client_id").segment_id.sort_index()


def test_match_centers_by_hand():
    old = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    new = np.array([[0.0, 9.5], [0.2, 0.1], [30.0, 30.0]])  # permuted, one far away
    m, _, thr = match_centers(old, new, relative_threshold=0.5)
    assert m == {0: 2, 1: 0}
    assert thr == 0.5 * 10.0
    segs, nxt, rep = carry_identities(
        "b",
        3,
        m,
        [
            {"id": "b-1", "name": "One"},
            {"id": "b-2", "name": "Two"},
            {"id": "b-3", "name": "Three"},
        ],
        4,
        {},
    )
    assert [s["id"] for s in segs] == ["b-3", "b-1", "b-4"]
    assert segs[0]["name"] == "Three" and segs[2]["name"] == "Segment 4" and nxt == 5
    assert rep == {"kept": ["b-1", "b-3"], "new": ["b-4"], "retired": ["b-2"]}


def test_match_labels_by_overlap():
    old = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    new = np.array([1, 1, 1, 0, 0, 0, 2, 3])
    assert match_labels(old, new) == {1: 0, 0: 1, 2: 2}


def test_refit_on_unchanged_data_keeps_every_identity(warehouse):
    df, _ = make_features(3000, k=4)
    load_features(warehouse, df)
    first = run_segmentation(warehouse, _cfg())
    second = run_segmentation(warehouse, _cfg(seed=11), as_of=None, refit=True)
    assert second.models["b"].version == 2
    assert (_by_client(first) == _by_client(second)).all()
    assert second.models["b"].evidence["identity"]["retired"] == []


def test_refit_on_shifted_data_keeps_identities(warehouse):
    df, y = make_features(3000, k=4)
    load_features(warehouse, df)
    first = run_segmentation(warehouse, _cfg())
    later = dt.date(2024, 9, 30)
    shifted, y2 = make_features(3000, k=4, seed=1, shift=0.05, as_of=later)
    load_features(warehouse, shifted, replace=False)
    second = run_segmentation(warehouse, _cfg(), as_of=later, refit=True)
    ident = second.models["b"].evidence["identity"]
    assert ident["new"] == [] and ident["retired"] == []
    # the same planted group carries the same id in both runs
    a, b = _by_client(first), _by_client(second)
    first_of = {g: a.iloc[np.flatnonzero(y == g)[0]] for g in range(4)}
    second_of = {g: b.iloc[np.flatnonzero(y2 == g)[0]] for g in range(4)}
    assert first_of == second_of


def test_a_new_planted_segment_gets_a_new_id(warehouse):
    df, _ = make_features(2000, k=3)
    load_features(warehouse, df)
    first = run_segmentation(warehouse, _cfg(k=3))
    more, _ = make_features(2000, k=5, seed=3)
    load_features(warehouse, more)
    second = run_segmentation(warehouse, _cfg(k=5), refit=True)
    ids = {s["id"] for s in second.models["b"].segments}
    assert len(ids) == 5
    old_ids = {s["id"] for s in first.models["b"].segments}
    assert ids - old_ids, "some segment must be new"
    assert all(int(i.split("-")[1]) >= 4 for i in ids - old_ids)  # fresh numbers


def test_changed_inputs_refit_keeps_identities(warehouse):
    df, _ = make_features(3000, k=4)
    load_features(warehouse, df)
    first = run_segmentation(warehouse, _cfg())
    fewer = SegmentationConfig(
        include_defaults=False,
        sample_size=2000,
        dimensions=[
            DimensionConfig(
                name="b", kind="learned", inputs=INPUTS[:-1], selection={"n_bootstrap": 2}
            )
        ],
    )
    second = run_segmentation(warehouse, fewer)  # definition changed: refitted
    assert second.fitted == ["b"]
    assert second.models["b"].evidence["identity"]["method"] == "centroids"
    assert (_by_client(first) == _by_client(second)).all()


def test_block_weights_make_a_glob_family_weigh_one_feature():
    from segmint.segmentation._dimension import block_weights

    dim = DimensionConfig(
        name="b",
        kind="learned",
        inputs=["frequency", "share_cat_*"],
        preprocessing={"weights": {"frequency": 2.0, "share_cat_b": 3.0}},
    )
    w = block_weights(dim, ["frequency", "share_cat_a", "share_cat_b"], set())
    assert w == pytest.approx(
        {"frequency": 2.0, "share_cat_a": 0.5**0.5, "share_cat_b": 3 * 0.5**0.5}
    )
