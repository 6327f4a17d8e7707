"""Fuzzing the project-file loader: whatever the bytes, a config or a ConfigError.

Never a traceback: ``load_config`` either returns a ``ProjectConfig`` or raises a
``SegmintError`` whose message names the file.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badinputs import YAML
from segmint.config import ProjectConfig, load_config
from segmint.errors import SegmintError

_settings = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load(tmp_path, data: bytes) -> None:
    path = tmp_path / "segmint.yaml"
    path.write_bytes(data)
    try:
        cfg = load_config(path)
    except SegmintError as exc:
        assert "segmint.yaml" in str(exc)
        assert len(str(exc)) < 20_000  # a message, not a dump of the input
    else:
        assert isinstance(cfg, ProjectConfig)


@_settings
@given(data=st.binary(max_size=400))
def test_any_bytes(tmp_path, data):
    _load(tmp_path, data)


# YAML-looking text: keys of the real schema, odd scalars, anchors and aliases
_keys = st.sampled_from([
    "project", "sources", "entities", "contracts", "warehouse", "path", "columns", "source",
    "where", "sql", "client_id", "transactions", "clients", "memory_limit", "max_shrink",
    "encoding", "delimiter", "segmentation", "dimensions", "rules", "when", "&a", "*a", "<<",
])
_scalars = st.one_of(
    st.sampled_from(["1e999", "-.inf", ".nan", "2024-13-45", "~", "!!binary AAAA", "!!python/object:os.system",
                     "'; DROP TABLE x", "COPY t TO 'x'", "*a", "&a [1, *a]", "{", "[", "lots", "0x10", "yes"]),
    st.text(max_size=12),
    st.integers(),
    st.floats(allow_nan=True),
).map(str)


@st.composite
def _yaml_text(draw, depth: int = 0) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        key = draw(_keys)
        indent = "  " * depth
        if depth < 3 and draw(st.booleans()):
            lines.append(f"{indent}{key}:")
            lines.append(draw(_yaml_text(depth + 1)))
        else:
            lines.append(f"{indent}{key}: {draw(_scalars)}")
    return "\n".join(lines)


@_settings
@given(text=_yaml_text())
def test_yaml_like_text(tmp_path, text):
    _load(tmp_path, text.encode("utf-8", "surrogatepass"))


@_settings
@given(
    line=st.integers(0, YAML.count("\n")),
    junk=st.one_of(_scalars, st.sampled_from(["  x: 1", "- a", "\t", ": :", "&b", "*b", "? x"])),
)
def test_a_real_project_file_with_one_line_spoiled(tmp_path, line, junk):
    lines = YAML.splitlines()
    lines[line:line + 1] = [junk] if line < len(lines) else [junk]
    _load(tmp_path, "\n".join(lines).encode("utf-8", "surrogatepass"))


@_settings
@given(value=st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
), key=st.sampled_from(["sources", "entities", "contracts", "warehouse", "segmentation", "features",
                        "monitoring", "catalog", "events", "project"]))
def test_any_value_under_a_real_key(tmp_path, key, value):
    doc = yaml.safe_load(YAML)
    doc[key] = value
    _load(tmp_path, yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass"))
