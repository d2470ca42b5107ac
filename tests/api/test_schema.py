"""Property-based run of the REST API's own OpenAPI schema (schemathesis) against the app under
uvicorn, with a token that may do everything: valid and invalid requests alike must never make
the server fail (no 5xx).

Schemathesis' engine runs every phase (explicit examples, coverage of boundary and invalid
values, random fuzzing, stateful sequences), with at most MAX_EXAMPLES generated cases per
operation. Its pytest plugin does not work with pytest 9 yet, hence the engine."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from tests.api.conftest import make_corpora, make_people, token_for

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = 25


@pytest.fixture
def people(transactional_db):
    return make_people()


@pytest.fixture
def manager_token(people):
    make_corpora(people)
    return token_for(people.manager)


def test_no_request_makes_the_api_fail(live_app, manager_token):
    config = SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Bearer {manager_token}"},
            "generation": {
                "mode": "all",  # also the requests the schema says are invalid
                "max-examples": MAX_EXAMPLES,
                "database": "none",
            },
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
            "request-timeout": 60,
        }
    )
    schema = schemathesis.openapi.from_url(f"{live_app.url}/api/openapi.json", config=config)
    operations = {result.ok().label for result in schema.get_all_operations()}
    # 11 + provenance export, start and read an evaluation run, follow a live answer
    assert len(operations) == 15

    tested: set[str] = set()
    cases = 0
    failures: list[str] = []
    errors: list[str] = []
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            tested.add(event.recorder.label)
            cases += len(event.recorder.cases)
            if event.status == Status.FAILURE:
                for checks in event.recorder.checks.values():
                    failures += [
                        f"{event.recorder.label}: {check.failure_info.failure.title}\n"
                        f"{check.failure_info.code_sample}"
                        for check in checks
                        if check.failure_info is not None
                    ]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(repr(event))
    print(f"schemathesis: {cases} cases over {len(tested)} operations")
    log = live_app.log.read_text()
    # A transport error (a connection reset, a chunked body cut off) is seen by the client
    # only; what the server did is in its log.
    assert not errors, "\n".join(errors) + "\n\n" + log[-5000:]
    assert not failures, "\n\n".join(failures) + "\n\n" + log[-5000:]
    assert operations <= tested
    assert cases >= len(operations) * 10
