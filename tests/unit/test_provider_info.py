"""The provider is discoverable by Airflow through its entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow_flume_provider


def test_get_provider_info_shape() -> None:
    info = airflow_flume_provider.get_provider_info()
    assert info["package-name"] == "airflow-flume-provider"
    for key in ("name", "description", "hooks", "operators", "sensors", "triggers", "connection-types"):
        assert key in info
    for key in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[key]:
            assert set(entry) == {"integration-name", "python-modules"}


def test_entry_point_is_registered() -> None:
    eps = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_flume_provider")]
    assert [ep.load()()["package-name"] for ep in eps] == ["airflow-flume-provider"]


def test_airflow_providers_list_shows_it(tmp_path: Path) -> None:
    airflow = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run(
        [str(airflow), "providers", "list", "-o", "json"], capture_output=True, text=True, env=env, timeout=180
    )
    assert out.returncode == 0, out.stderr[-2000:]
    start = re.search(r"^\[\s*\{", out.stdout, re.M).start()  # Airflow 3.0 logs INFO lines to stdout first
    names = {p["package_name"] for p in json.loads(out.stdout[start:])}
    assert "airflow-flume-provider" in names
