"""``airflow-flume repair-stale``: list, and with ``--apply`` finalize, in-use files a dead Flume agent left open.

The work is :mod:`airflow_flume_provider.stale_files`; this module parses arguments and prints. A dry run
(the default) prints each stale file with the ``hdfs`` commands that repair it and exits 1; ``--apply``
recovers each file's lease through WebHDFS (empty APPENDs, waiting up to ``--wait`` s) and renames it to the
name Flume would have given it. Exit codes as the other commands: 0 nothing (left) to do, 1 stale files
found (dry run) or left unrepaired (``--apply``), 2 usage error or WebHDFS failing. No Airflow imports here
(``--conn-id`` reaches the hook through :mod:`airflow_flume_provider.cli`).
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from airflow_flume_provider.cli_args import (
    UsageError,
    _add_template_args,
    parse_date,
    path_template,
    sink_settings,
)
from airflow_flume_provider.naming import FileNaming

EXIT_OK, EXIT_NEGATIVE = 0, 1
DEFAULT_OLDER_THAN_S = 7200.0
DEFAULT_WAIT_S = 120.0
LOG = logging.getLogger("airflow_flume_provider.repair_stale")


def add_repair_stale(sub: Any) -> None:
    """Register the ``repair-stale`` sub-command on the ``airflow-flume`` sub-parsers."""
    p = sub.add_parser(
        "repair-stale",
        help="list in-use (.tmp) files left open by a dead Flume agent; --apply recovers and renames them",
    )
    p.add_argument("path", nargs="?", help="partition directory (path or hdfs:// URI), or use --date")
    _add_template_args(p, positional=False)
    p.add_argument("--date", help="with --flume-conf/--template: partition date (YYYY-MM-DD) or ISO instant")
    p.add_argument(
        "--older-than",
        type=float,
        default=DEFAULT_OLDER_THAN_S,
        help="seconds since the file's last modification; keep it above hdfs.rollInterval (default 7200)",
    )
    p.add_argument("--apply", action="store_true", help="recover the leases and rename (default: dry run)")
    p.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        help="with --apply: seconds to wait for each file's lease recovery (default 120; the soft limit is 60)",
    )
    p.add_argument(
        "--file-prefix", default="FlumeData", help="with a PATH: hdfs.filePrefix (default FlumeData)"
    )
    p.add_argument("--in-use-prefix", default="", help="with a PATH: hdfs.inUsePrefix (default '')")
    p.add_argument("--in-use-suffix", default=".tmp", help="with a PATH: hdfs.inUseSuffix (default .tmp)")
    p.add_argument(
        "--webhdfs", help="NameNode URL(s), e.g. http://root@127.0.0.1:29870 (instead of --conn-id)"
    )
    p.add_argument("--conn-id", help="Airflow webhdfs connection (default webhdfs_default)")


def _target(args: argparse.Namespace) -> tuple[str, FileNaming]:
    """The partition directory (a path, not a URI) and the sink's file naming."""
    from airflow_flume_provider.hdfs_uri import is_hdfs_uri, split_hdfs_uri
    from airflow_flume_provider.partition_check import resolve_partitions

    if args.path and (args.flume_conf or args.template or args.date):
        raise UsageError("give a PATH or --flume-conf/--template with --date, not both")
    if args.path:
        directory = args.path
        naming = FileNaming(
            file_prefix=args.file_prefix, in_use_prefix=args.in_use_prefix, in_use_suffix=args.in_use_suffix
        )
    else:
        if not args.date:
            raise UsageError("give a partition PATH, or --flume-conf FILE --agent A --sink K --date D")
        template = path_template(args)
        directory = resolve_partitions(template, parse_date(args.date, template))[0][0]
        settings = sink_settings(args.flume_conf, args.agent, args.sink) if args.flume_conf else None
        naming = FileNaming.from_settings(settings) if settings else FileNaming()
    if is_hdfs_uri(directory):
        directory = split_hdfs_uri(directory)[1]
    if not directory.startswith("/"):
        raise UsageError(f"partition path {directory!r}: must be absolute (or an hdfs:// URI)")
    if args.older_than < 0 or args.wait < 0:
        raise UsageError("--older-than and --wait must be >= 0")
    return directory.rstrip("/") or "/", naming


def cmd_repair_stale(args: argparse.Namespace) -> int:
    """List the stale in-use files of one partition; with ``--apply`` recover and rename them."""
    from airflow_flume_provider.cli import _hdfs_client
    from airflow_flume_provider.hdfs_types import HdfsError
    from airflow_flume_provider.stale_files import (
        RecoveryWait,
        finalize_stale,
        repair_commands,
        stale_in_use,
    )

    directory, naming = _target(args)
    now_ms = int(time.time() * 1000)
    with _hdfs_client(args.webhdfs, args.conn_id) as client:
        try:
            statuses = client.list_status(directory)
            stale = stale_in_use(statuses, naming, now_ms=now_ms, stale_after_s=args.older_than)
            in_use = sum(1 for s in statuses if s.is_file and naming.classify(s.name) == "in_use")
            print(
                f"{directory}: {len(statuses)} entries, {in_use} in-use file(s), {len(stale)} stale "
                f"(not modified for more than {args.older_than:g} s)"
            )
            for st in stale:
                age = (now_ms - st.modification_time) / 1000
                print(f"  {directory}/{st.name}: {st.length:,} bytes, last modified {age:,.0f} s ago")
                if not args.apply:
                    for command in repair_commands(f"{directory}/{st.name}", naming):
                        print(f"      {command}")
            if not stale:
                return EXIT_OK
            if not args.apply:
                print("dry run: nothing changed; run again with --apply to recover and rename")
                return EXIT_NEGATIVE
            actions = finalize_stale(client, directory, stale, naming, log=LOG, wait=RecoveryWait(args.wait))
        except HdfsError as exc:
            raise UsageError(f"{directory}: {exc}") from exc
    for action in actions:
        print(action)
    return EXIT_OK if all(a.startswith("renamed ") for a in actions) else EXIT_NEGATIVE
