"""The benchmark suites `make bench` runs, in order: one line each, `name: module`.

Each module exposes `async def run(quick: bool) -> list[Measurement]`.
"""

SUITES: dict[str, str] = {
    "xano": "bench.xano_bench",
    "offline-eval": "bench.offline_eval",
    "enricher": "bench.enricher_bench",
    "ingest": "bench.ingest_bench",
    "dedupe": "bench.dedupe_bench",
    "router": "bench.router_bench",
    "pipeline": "bench.pipeline_bench",
    "console": "bench.console_bench",
}
