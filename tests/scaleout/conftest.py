"""Fixtures of the scaled-out tests: one deployment for the whole session (a fresh
PostgreSQL database, a Redis key prefix of its own, two Daphne processes and two
``runworker bcpages.tasks`` processes), kept whole between tests."""

import pytest

from tests.scaleout.cluster import Deployment


@pytest.fixture(scope="session")
def deployment():
    with Deployment() as deployment:
        deployment.daphnes, deployment.workers = deployment.start(daphnes=2, workers=2)
        yield deployment


@pytest.fixture
def cluster(deployment):
    """The session's deployment with both of its workers alive: a worker that an
    earlier test killed is replaced by a new one first."""
    for index, worker in enumerate(deployment.workers):
        if not worker.alive():
            worker.stop()
            deployment.workers[index] = deployment.worker()
    for daphne in deployment.daphnes:
        assert daphne.alive(), f"{daphne} died:\n{daphne.output.tail()}"
    return deployment
