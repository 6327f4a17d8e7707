"""The report's "What changed" section, rendered from the monitoring tables."""

from __future__ import annotations

import datetime as dt

from segmint.report._html import what_changed

from .conftest import with_monitoring


def test_report_has_what_changed_after_cycles(bank):
    end = bank.default_as_of()
    project = with_monitoring(bank, alerts={"reclassification_rate": 0.0001})
    project.update(end - dt.timedelta(days=7), ingest=False)
    project.update(end, ingest=False)
    text = project.report().read_text()
    assert "id='what-changed'" in text and "href='#what-changed'" in text
    assert "behaviour: previous segment (rows) to current segment (columns)" in text
    assert "Feature drift: PSI" in text
    assert "reclassification" in text  # the alert table


def test_no_section_without_cycles(bank):
    end = bank.default_as_of()
    bank.features(end)
    bank.segment(end, load=False)
    with bank.warehouse() as wh:
        assert what_changed(wh, end) == ""
    assert "what-changed" not in bank.report().read_text()
