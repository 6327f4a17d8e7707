"""Every feature of the catalog has a readable label (no column names in the report)."""

from __future__ import annotations

import pytest

from segmint.features import GROUPS, POST_ENGINE_GROUPS, feature_label
from segmint.features._labels import known_label

BINDINGS = {
    "category": "online_retail", "channel": "mobile", "window": "30d",
    "event_channel": "mobile_app", "product_type": "savings", "value_months": "12",
    "clv_months": "12", "attr_text": "contract", "attr_number": "monthly_charges",
    "attr_flag": "paperless_billing", "attr_date": "contract_end",
}
# user-defined features (features.custom) are named and described by the user
NAMES = sorted(
    f.name.format(**BINDINGS)
    for g in [*GROUPS.values(), *POST_ENGINE_GROUPS.values()]
    if g.name != "custom"
    for f in g.features
)


@pytest.mark.parametrize("name", NAMES)
def test_every_catalog_feature_has_a_label(name):
    label = known_label(name)
    assert label is not None, name
    assert "_" not in label and "btyd" not in label.lower()


def test_labels_read_as_words():
    assert feature_label("btyd_t_x") == "time from first to last purchase (model input)"
    assert feature_label("events_mobile_app_30d") == "mobile app events in 30 days"
    assert feature_label("share_cat_dining") == "dining spend share"
    assert feature_label("clv_12m") == "12-month CLV"
    assert feature_label("attr_income_band") == "income band"
    assert feature_label("my_custom_thing") == "my custom thing"
