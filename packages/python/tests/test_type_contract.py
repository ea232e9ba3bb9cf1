"""The type contract, differentially: a message reaches the handler exactly when the
annotation's type system accepts its JSON text (pydantic ``validate_json(raw, strict=True)``,
``msgspec.json.decode(raw, type=T)``), and the handler receives exactly the value that decoding
builds; anything else gets a ``validation_failed`` envelope.

Hypothesis draws near-valid messages from each case's seeds (wrong types, bounds, formats, big
integers, ``1.0`` for ``int``, extra and missing keys, duplicates); every batch goes over one
real connection to a real server, and each reply is judged against the reference. The few
documented exceptions (``docs/python.md``) are counted apart, never as passes of the rule.

``SPIKARD_CONTRACT_REPORT=1`` prints the counts per case and does not fail (to measure a
tree where the rule does not hold yet).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from contract_messages import documented, messages, reference, same
from contract_types import CASES, STDLIB_CASES, Case
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from spikard import Spikard, schema
from spikard.routing import WebSocketRoute
from spikard.testing import TestClient

REPORT = os.environ.get("SPIKARD_CONTRACT_REPORT") == "1"
BATCH = 100
BATCHES = 2

OUTCOMES: Counter[tuple[str, str]] = Counter()

# --- the server ----------------------------------------------------------------------------
SEEN: dict[str, list[Any]] = {}


def _route(path: str, annotation: Any) -> WebSocketRoute[..., Any]:
    seen = SEEN.setdefault(path, [])

    async def handler(message: Any) -> dict[str, int]:
        seen.append(message)
        return {"ok": 1}

    handler.__annotations__ = {"message": annotation, "return": dict}
    return WebSocketRoute(path, handler)


BY_NAME = {case.name: case for case in CASES}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    routes = [_route(f"/{case.name}", case.annotation) for case in CASES]
    with mock.patch.object(schema, "_INSTALLED", frozenset()):
        routes += [_route(f"/stdlib/{name}", BY_NAME[name].annotation) for name in STDLIB_CASES]
    with TestClient(Spikard(routes=routes)) as test_client:
        yield test_client


def judge(client: TestClient, path: str, case: Case, raws: list[str]) -> list[str]:
    """Send ``raws`` on one connection and return every undocumented disagreement."""
    seen = SEEN[path]
    seen.clear()
    with client.connect(path) as ws:
        for raw in raws:
            ws.send_text(raw)
        replies = [ws.receive_json() for _ in raws]
    delivered = iter(list(seen))
    problems = []
    for raw, reply in zip(raws, replies, strict=True):
        accepted, expected = reference(case, raw)
        if reply == {"ok": 1}:
            got = next(delivered)
            if not accepted:
                verdict = "delivered_invalid"
            elif not same(got, expected):
                verdict = "different_value"
            else:
                verdict = "agree"
        elif reply.get("code") == "validation_failed":
            verdict = "refused_valid" if accepted else "agree"
        else:
            verdict = f"error_{reply.get('code')}"
        if verdict != "agree":
            reason = documented(case, raw, verdict)
            if reason is not None:
                verdict = f"documented_{reason}"
        OUTCOMES[(path, verdict)] += 1
        if verdict != "agree" and not verdict.startswith("documented_"):
            problems.append(f"{path}: {verdict}: {raw} -> {reply}")
    return problems


def _check(client: TestClient, path: str, case: Case, raws: list[str]) -> None:
    problems = judge(client, path, case, raws)
    if not REPORT:
        assert not problems, "\n".join(problems[:20])


SETTINGS = settings(
    max_examples=BATCHES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # a batch lists every disagreement: no shrinking
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_type_system_decides(client: TestClient, case: Case) -> None:
    @SETTINGS
    @given(raws=st.lists(messages(case), min_size=BATCH, max_size=BATCH))
    def run(raws: list[str]) -> None:
        _check(client, f"/{case.name}", case, raws)

    run()


@pytest.mark.parametrize("name", STDLIB_CASES)
def test_stdlib_walker_follows_pydantic(client: TestClient, name: str) -> None:
    case = BY_NAME[name]

    @settings(SETTINGS, max_examples=1)
    @given(raws=st.lists(messages(case), min_size=BATCH, max_size=BATCH))
    def run(raws: list[str]) -> None:
        _check(client, f"/stdlib/{name}", case, raws)

    run()


def test_zz_report() -> None:
    """Prints the counts (``pytest -s``); the per-case tests assert them."""
    totals: Counter[str] = Counter()
    for (_, verdict), n in OUTCOMES.items():
        totals[verdict] += n
    print(f"\ntype contract: {sum(totals.values())} messages, {len(CASES)} + {len(STDLIB_CASES)} routes")
    for verdict, n in sorted(totals.items()):
        print(f"  {verdict}: {n}")
    if REPORT:
        for (path, verdict), n in sorted(OUTCOMES.items()):
            if verdict != "agree":
                print(f"  {path} {verdict}: {n}")
