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
        "integrations": [
            {
                "integration-name": "Flume",
                "external-doc-url": "https://flume.apache.org/releases/content/1.11.0/FlumeUserGuide.html",
                "tags": ["apache"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Flume",
                "python-modules": [
                    "airflow_flume_provider.hooks.flume_kafka",
                    "airflow_flume_provider.hooks.flume_hdfs",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "Flume",
                "python-modules": [
                    "airflow_flume_provider.operators.publish",
                    "airflow_flume_provider.operators.replay",
                    "airflow_flume_provider.operators.audit",
                ],
            }
        ],
        "sensors": [{"integration-name": "Flume", "python-modules": ["airflow_flume_provider.sensors.partition"]}],
        "triggers": [{"integration-name": "Flume", "python-modules": ["airflow_flume_provider.triggers.partition"]}],
        # The hook reuses the "kafka" connection type of apache-airflow-providers-apache-kafka and the sensor the
        # "webhdfs" type of apache-airflow-providers-apache-hdfs; declaring either here would take it from them
        # (the first provider in name order wins), see hooks/flume_kafka.py.
        "connection-types": [],
    }
