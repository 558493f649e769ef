"""`jobstream stack up|down|status`: the local Kafka + PostgreSQL stack."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace

from cli import pipeline
from cli.base import EXIT_FAILURE, EXIT_OK, CommandError, Handler, SubParsers, command_group
from cli.options import add_stack_options, stack_config
from cli.stack import ComponentStatus, StackConfig, StackError, ensure_up, shut_down, status
from cli.stack.lifecycle import broker_name


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers,
        "stack",
        "start, stop or inspect the local Kafka + PostgreSQL",
        "The local stack: a real Kafka broker (KRaft) and PostgreSQL 15, no Docker.",
    )
    up = _add(
        actions, "up", _up, "start what is missing, wait until it answers, create topics, migrate"
    )
    up.add_argument(
        "--brokers",
        type=int,
        choices=(1, 3),
        help="Kafka brokers: 1, or 3 (one controller quorum; topics get replication factor 3 "
        "and min.insync.replicas 2); default JOBSTREAM_KAFKA_BROKERS, else as last started",
    )
    up.add_argument(
        "--services", action="store_true", help="also start the services and the emulator"
    )
    up.add_argument(
        "--replicas",
        metavar="SPEC",
        help="run services with replicas, e.g. enricher=3,router=2 (implies --services; "
        "remembered: a later `up --services` or `restart` keeps them)",
    )
    restart = _add(
        actions,
        "restart",
        _restart,
        "stop every replica of a service and start as many again, then wait until its "
        "consumer groups are stable",
    )
    restart.add_argument("service", choices=pipeline.SERVICES, help="the service to restart")
    _add(actions, "down", _down, "stop the processes this stack started (fine if none run)")
    _add(actions, "status", _status, "show each component; exit 0 only if all answer")


def _add(actions: SubParsers, name: str, handler: Handler, summary: str) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=summary, description=summary)
    add_stack_options(parser)
    parser.set_defaults(handler=handler)
    return parser


def _up(args: argparse.Namespace) -> int:
    config = stack_config(args)
    try:
        info = asyncio.run(ensure_up(config))
    except StackError as error:
        raise CommandError(str(error)) from error
    for node, pid in zip(config.kafka_nodes, info.kafka_pids, strict=True):
        print(f"{broker_name(config, node):<9} 127.0.0.1:{config.node_ports(node)[0]}  pid {pid}")
    print(f"replication factor {config.replication_factor}, "
          f"min.insync.replicas {config.min_insync_replicas}")  # fmt: skip
    print(f"postgres  127.0.0.1:{config.pg_port}  pid {info.postgres_pid}")
    print(f"topics created: {len(info.created_topics)}; migrations applied: "
          f"{', '.join(info.applied_migrations) or 'none pending'}")  # fmt: skip
    print(f"KAFKA_BOOTSTRAP_SERVERS={info.bootstrap}")
    print(f"DATABASE_URL={info.dsn}")
    if args.services or args.replicas:
        _start_services(config, args.replicas or "")
    return EXIT_OK


def _start_services(config: StackConfig, replicas: str) -> None:
    """Starts what is missing; returns once every consumer group is stable."""
    try:
        if replicas:
            counts = pipeline.parse_replicas(replicas)
            pipeline.save_replicas(config, counts)
        else:
            counts = pipeline.saved_replicas(config)
        services = replace(pipeline.PipelineConfig.from_env(config), replicas=counts)
        started = pipeline.start(services)
    except pipeline.PipelineError as error:
        raise CommandError(str(error)) from error
    print(f"services started: {', '.join(started) or 'all were running'}")
    print(f"replicas: {', '.join(f'{k}={v}' for k, v in counts.items())}; consumer groups stable")


def _restart(args: argparse.Namespace) -> int:
    config = stack_config(args)
    counts = pipeline.saved_replicas(config)
    services = replace(pipeline.PipelineConfig.from_env(config), replicas=counts)
    try:
        started = pipeline.restart(services, args.service)
    except pipeline.PipelineError as error:
        raise CommandError(str(error)) from error
    print(f"restarted: {', '.join(started)}; consumer groups stable")
    return EXIT_OK


def _down(args: argparse.Namespace) -> int:
    config = stack_config(args)
    # The services and emulators first: they hold connections to Kafka and PostgreSQL.
    for name in pipeline.stop(pipeline.PipelineConfig.from_env(config)):
        print(f"{name:<9} stopped")
    stopped = asyncio.run(shut_down(config))
    for name, pid in stopped.items():
        print(f"{name:<9} {'stopped pid ' + str(pid) if pid else 'was not running'}")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    config = stack_config(args)
    components = asyncio.run(status(config))
    print(format_status(components))
    for name, pid in pipeline.running(pipeline.PipelineConfig.from_env(config)).items():
        print(f"{name:<10} {'-':<6} {pid or '-'!s:<8} {'running' if pid else 'stopped'}")
    return EXIT_OK if all(c.answers for c in components) else EXIT_FAILURE


def format_status(components: list[ComponentStatus]) -> str:
    """A fixed-width table: component, port, pid, whether it answers, and why."""
    rows = [("COMPONENT", "PORT", "PID", "ANSWERS", "DETAIL")]
    rows += [
        (c.name, str(c.port), str(c.pid or "-"), "yes" if c.answers else "no", c.detail)
        for c in components
    ]
    return "\n".join(f"{r[0]:<10} {r[1]:<6} {r[2]:<8} {r[3]:<8} {r[4]}" for r in rows)
