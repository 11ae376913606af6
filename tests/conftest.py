"""Test-wide settings: Airflow's home, DB and connections, set before anything imports airflow."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "stack"))

import stackctl  # noqa: E402

_AIRFLOW_HOME = Path(os.environ.get("FLUME_TEST_AIRFLOW_HOME", ROOT / ".airflow" / "tests"))
_AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["FLUME_CONF"] = str(stackctl.FLUME_CONF)
os.environ["FLUME_NAMENODE"] = stackctl.NAMENODE  # the example DAGs read the stack's Flume config
# dag.test() parses the bundle holding the DAG: the example DAGs, and the DAGs only tests use.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(ROOT / folder)},
        }
        for name, folder in (("provider_dags", "dags"), ("test_dags", "tests/dags"))
    ]
)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"] = json.dumps(
    {"conn_type": "kafka", "extra": {"bootstrap.servers": stackctl.BOOTSTRAP}}
)
os.environ["AIRFLOW_CONN_WEBHDFS_DEFAULT"] = json.dumps(
    {"conn_type": "webhdfs", "host": stackctl.HOST, "port": stackctl.NAMENODE_HTTP_PORT, "login": stackctl.HDFS_USER}
)
os.environ["AIRFLOW_CONN_KAFKA_SASL"] = json.dumps(
    {
        "conn_type": "kafka",
        "extra": {
            "bootstrap.servers": f"{stackctl.HOST}:{stackctl.KAFKA_SASL_PORT}",
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": stackctl.KAFKA_SASL_USER,
            "sasl.password": stackctl.KAFKA_SASL_PASSWORD,
        },
    }
)
