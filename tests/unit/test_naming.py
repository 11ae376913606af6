"""FileNaming.classify (called once per listed file) against a plain reference of Flume 1.11's naming rules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_flume_provider.naming import FileNaming


def reference_classify(n: FileNaming, name: str) -> str:
    """The rules spelled out: an open file is <inUsePrefix><prefix>...<inUseSuffix>; a closed one is
    <prefix>...<suffix>; with no prefix, names starting with _ or . are markers (e.g. _SUCCESS)."""
    prefix = n.file_prefix.split("%", 1)[0]
    in_use_named = n.in_use_prefix or n.in_use_suffix
    if in_use_named and name.startswith(n.in_use_prefix) and name.endswith(n.in_use_suffix):
        core = name[len(n.in_use_prefix) : len(name) - len(n.in_use_suffix)]
        if core.startswith(prefix):
            return "in_use"
    hidden_marker = not prefix and name.startswith(("_", "."))
    if name.startswith(prefix) and name.endswith(n.file_suffix) and not hidden_marker:
        return "finished"
    return "other"


PARTS = st.sampled_from(["", "_", ".", "FlumeData", "ev", ".tmp", ".gz", "%{host}", "x"])
NAMES = st.lists(
    st.sampled_from(["", "_", ".", "FlumeData", "ev", ".tmp", ".gz", "1234", "SUCCESS", "x"]), max_size=5
)


@settings(max_examples=3000, deadline=None)
@given(PARTS, PARTS, PARTS, PARTS, NAMES)
def test_classify_equals_the_reference(
    prefix: str, suffix: str, in_pre: str, in_suf: str, parts: list[str]
) -> None:
    naming = FileNaming(file_prefix=prefix, file_suffix=suffix, in_use_prefix=in_pre, in_use_suffix=in_suf)
    name = "".join(parts)
    assert naming.classify(name) == reference_classify(naming, name), (naming, name)


def test_flume_defaults() -> None:
    n = FileNaming()
    assert n.classify("FlumeData.1564703999000") == "finished"
    assert n.classify("FlumeData.1564703999000.tmp") == "in_use"
    assert n.classify("_SUCCESS") == "other"
    assert FileNaming(file_prefix="").classify("_SUCCESS") == "other"
