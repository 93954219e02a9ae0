"""The sweep's own LocalCluster drops only its teardown noise from the workers' logs.

The gap it covers (the scheduler closing while a worker's heartbeat is in flight) is a race, so
the test has real worker processes log the very records the race produces, beside a line that
must survive, in a fresh interpreter whose stderr (where the workers' logs go) is read."""

from __future__ import annotations

import subprocess
import sys

import pytest

from twin._local_dask import TEARDOWN_MESSAGES

KEPT = "a worker line that must stay"

SCRIPT = """
import logging, sys
from distributed import Client
from twin._local_dask import TEARDOWN_MESSAGES, local_cluster, quiet_teardown

def log_like_teardown(kept):
    logger = logging.getLogger("distributed.worker")
    try:
        raise OSError("Stream is closed")
    except OSError:
        for message in TEARDOWN_MESSAGES:
            logger.exception(message)
    logger.warning(kept)

if __name__ == "__main__":
    cluster = local_cluster(1)
    with Client(cluster) as client:
        if sys.argv[1] == "quiet":
            quiet_teardown(client)
        client.run(log_like_teardown, sys.argv[2])
    cluster.close()
"""


def _worker_stderr(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, KEPT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.timeout(300)
def test_only_the_teardown_records_are_dropped_on_our_cluster():
    loud = _worker_stderr("loud")
    # the control: without the plugin the worker prints them, traceback and all
    assert all(message in loud for message in TEARDOWN_MESSAGES)
    assert "Traceback" in loud and KEPT in loud
    quiet = _worker_stderr("quiet")
    assert not any(message in quiet for message in TEARDOWN_MESSAGES)
    assert "Traceback" not in quiet
    assert KEPT in quiet
