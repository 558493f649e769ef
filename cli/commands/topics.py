"""`jobstream topics create|list`: the catalogue's topics on a broker.

`create` applies the durability settings (KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS,
KAFKA_JOB_PARTITIONS) to the topics it creates and reconciles existing ones: it prints every
way they differ, sets their configs anew, and exits 1 when a partition count or replication
factor differs (changing either is an operator's decision).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable
from typing import TypeVar

from aiokafka.errors import KafkaError

from cli.base import EXIT_FAILURE, EXIT_OK, CommandError, SubParsers, command_group
from cli.stack import StackConfig
from schemas.topics import CATALOGUE
from services.shared.durability import TopicSettings
from services.shared.settings import SettingsError
from services.shared.topic_admin import TopicAdminError, list_topics, reconcile_topics

T = TypeVar("T")


def register(subparsers: SubParsers) -> None:
    actions = command_group(
        subparsers, "topics", "create or list Kafka topics", "Kafka topics of the catalogue."
    )
    create = actions.add_parser(
        "create", help="create the catalogue's missing topics and report drift"
    )
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="list topics and their partition counts")
    listing.set_defaults(handler=_list)
    for action in (create, listing):
        action.add_argument(
            "--bootstrap",
            default=None,
            help="host:port (default: KAFKA_BOOTSTRAP_SERVERS, else the local stack's broker)",
        )


def _bootstrap(args: argparse.Namespace) -> str:
    if args.bootstrap:
        return str(args.bootstrap)
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or StackConfig.from_env().bootstrap


def _talk_to_kafka(bootstrap: str, request: Awaitable[T]) -> T:
    try:
        return asyncio.run(_awaited(request))
    except (KafkaError, OSError) as error:
        raise CommandError(f"cannot reach Kafka at {bootstrap}: {error}") from error
    except TopicAdminError as error:
        raise CommandError(str(error)) from error


async def _awaited(request: Awaitable[T]) -> T:
    return await request


def _create(args: argparse.Namespace) -> int:
    bootstrap = _bootstrap(args)
    try:
        settings = TopicSettings.from_env(os.environ)
    except SettingsError as error:
        raise CommandError(str(error)) from error
    report = _talk_to_kafka(bootstrap, reconcile_topics(bootstrap, CATALOGUE, settings))
    created = report.created
    print(
        f"created {len(created)} of {len(CATALOGUE)} topics "
        f"(replication factor {settings.replication_factor}, "
        f"min.insync.replicas {settings.min_insync_replicas}): {', '.join(created) or '-'}"
    )
    for drift in report.drift:
        print(f"drift: {drift}")
    return EXIT_FAILURE if report.unresolved else EXIT_OK


def _list(args: argparse.Namespace) -> int:
    bootstrap = _bootstrap(args)
    topics = _talk_to_kafka(bootstrap, list_topics(bootstrap))
    for name, partitions in sorted(topics.items()):
        print(f"{name:<24} {partitions}")
    return EXIT_OK
