"""Client attributes on Spark: the same values as on DuckDB."""

from __future__ import annotations

import pandas as pd
import pytest

from attributes_project import attribute_project, features_at


@pytest.mark.slow
@pytest.mark.spark
def test_attributes_are_the_same_on_spark(tmp_path, spark):
    project = attribute_project(tmp_path)
    from segmint.features import spark_engine_from_warehouse

    duck = features_at(project, "2024-02-20")
    on_spark = features_at(project, "2024-02-20", lambda wh: spark_engine_from_warehouse(spark, wh))
    cols = [c for c in duck["a"] if c.startswith("attr_")]
    def norm(row):
        return {c: None if pd.isna(row[c]) else row[c] for c in cols}

    for client in duck:
        assert norm(on_spark[client]) == norm(duck[client])
