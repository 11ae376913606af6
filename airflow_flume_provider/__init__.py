"""Apache Airflow provider that publishes Flume envelopes to Kafka and gates on Flume's HDFS partitions."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Describe this provider to Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-flume-provider",
        "name": "Flume (Kafka -> Flume -> HDFS)",
        "description": "Publish Flume AvroFlumeEvent envelopes to Kafka with their event time, "
        "and wait for Flume's HDFS partitions to be complete.",
        "versions": [__version__],
        "hooks": [],
        "operators": [],
        "sensors": [],
        "triggers": [],
        "connection-types": [],
    }
