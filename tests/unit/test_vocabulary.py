"""Status words are named once, in `schemas/`: no job, run or sync status is spelled out as a
string literal in the services, the CLI, the benches, the emulators or the tests (SQL text, which
holds them quoted, is allowed), and no archive state is compared with one (its words, such as
"held", are also plain dict keys)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from schemas.records import FINISHED_STATUSES, RunStatus
from schemas.status import ArchiveState, JobStatus, RunState, SyncStatus

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("services", "cli", "bench", "emulators", "tests")
# Spelled out on purpose, not ours, so not scanned:
NOT_OURS = {
    # pins the stored words themselves (test_the_enums_keep_the_stored_words)
    "tests/unit/test_vocabulary.py": {"ACTIVE", "MANUAL_REVIEW", "REJECTED", "ENRICHMENT_FAILED",
                                      "ARCHIVED", "SYNCED", "PARTIAL", "HELD", "FAILED", "RUNNING",
                                      "COMPLETED", "SUCCESS", "FAILURE"},
    # Gemini's own file state (the Files API says "ACTIVE" once an upload is processed)
    "emulators/gemini/batches.py": {"ACTIVE"},
    # a fault spec's field, `applied`, not an archive state
    "emulators/gemini/faults.py": {"applied"},
}  # fmt: skip
STATUS_WORDS = frozenset(
    str(member) for enum in (JobStatus, RunStatus, RunState, SyncStatus) for member in enum
)
ARCHIVE_WORDS = frozenset(str(state) for state in ArchiveState)
# A Jinja comparison with a quoted status word, e.g. `r.run_status != 'RUNNING'`.
WORDS = "|".join(sorted(STATUS_WORDS))
TEMPLATE_LITERAL = re.compile(rf"""(==|!=|\bin)\s*['"]({WORDS})['"]""")


def status_literals(source: str) -> Iterator[tuple[int, str]]:
    """(line, word) of each string constant that is exactly a status word. SQL text holds a
    status quoted inside a longer string, so it is never a match. An archive word is a match
    where it is compared, alone or in a tuple, list or set; left of `in` it asks for a dict key
    (`"skipped" in line`), not a state, so it is not."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in STATUS_WORDS:
            yield node.lineno, node.value
        if isinstance(node, ast.Compare):
            key_lookup = isinstance(node.ops[0], ast.In | ast.NotIn)
            sides = node.comparators if key_lookup else [node.left, *node.comparators]
            for side in sides:
                for value in (
                    side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
                ):
                    if isinstance(value, ast.Constant) and value.value in ARCHIVE_WORDS:
                        yield value.lineno, value.value


def test_no_status_word_is_a_string_literal_outside_schemas() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {word!r}"
        for top in SCANNED
        for path in sorted((ROOT / top).rglob("*.py"))
        for line, word in status_literals(path.read_text(encoding="utf-8"))
        if word not in NOT_OURS.get(path.relative_to(ROOT).as_posix(), set())
    ]
    assert found == [], "use the enums of schemas/status.py and schemas/records.py:\n" + "\n".join(
        found
    )


def test_no_template_compares_with_a_status_word() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sorted((ROOT / "services").rglob("*.html"))
        for match in TEMPLATE_LITERAL.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_scan_finds_a_literal_and_passes_sql_and_enums() -> None:
    source = (
        'if run["status"] != "RUNNING":\n'
        "    pass\n"
        "Q = \"SELECT run_id FROM runs WHERE status = 'RUNNING'\"\n"
        'title = f"[FAILURE] run {x}"\n'
        "ok = status is SyncStatus.SYNCED\n"
        'outcome = SyncOutcome(status="FAILED")\n'
        'view = {"held": held} if state != "held" else {}\n'
        'skipped = [line for line in lines if "skipped" in line]\n'
        'gone = state in {"x": 1} or "y" in ("discarded",)\n'
    )
    assert sorted(status_literals(source)) == [
        (1, "RUNNING"), (6, "FAILED"), (7, "held"), (9, "discarded"),
    ]  # fmt: skip
    assert TEMPLATE_LITERAL.search("{% if r.run_status != 'RUNNING' %}")
    assert not TEMPLATE_LITERAL.search("{% if r.run_status in finished %}")


def test_the_enums_keep_the_stored_words() -> None:
    """Members are their stored strings: the database and the API see the same words."""
    assert [str(s) for s in JobStatus] == [
        "ACTIVE", "MANUAL_REVIEW", "REJECTED", "ENRICHMENT_FAILED", "ARCHIVED",
    ]  # fmt: skip
    assert [str(s) for s in SyncStatus] == ["SYNCED", "PARTIAL", "HELD", "FAILED"]
    assert [str(s) for s in RunState] == ["RUNNING", "COMPLETED"]
    assert {"SUCCESS", "PARTIAL", "FAILURE"} == FINISHED_STATUSES
    assert f"'{JobStatus.ARCHIVED}'" == "'ARCHIVED'"  # as interpolated into SQL
