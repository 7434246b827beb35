"""Which farm failures get another attempt: a lost actor does, up to the policy's limit; then the clip fails."""

import threading
from pathlib import Path

import pytest

from keydub.core.errors import InvalidParameterError
from keydub.core.render.request import RenderRequest
from keydub.plugin.cluster.executor import ActorEngine, ActorLostError, RemoteRenderError
from keydub.plugin.cluster.path_map import PathMap
from keydub.plugin.cluster.retry import RetryPolicy


def test_a_job_goes_back_to_the_queue_until_its_actors_were_lost_max_attempts_times():
    losses: dict[str, int] = {}
    request = RenderRequest(video=Path("/san/a.mov"), audio=Path("/san/a.wav"), output=Path("/san/st/sh010_ab.mkv"))
    node = {"node": "gpu-07", "address": "10.0.0.7", "pid": 4242, "gpus": ["0"]}
    errors = []
    for _ in range(3):
        # Each attempt runs on a new actor (a lost one is never given another job), sharing the executor's count.
        engine = ActorEngine(None, None, PathMap(), losses, RetryPolicy(max_attempts=3), threading.Lock())
        errors.append(engine._lost(request, node, "The actor died unexpectedly"))
        assert engine.is_lost and engine.stop.is_cancelled, "its drain loop claims nothing more"

    assert [type(error) for error in errors] == [ActorLostError, ActorLostError, RemoteRenderError]
    assert str(errors[0]) == "its render node was lost: The actor died unexpectedly (node gpu-07)"
    assert str(errors[2]) == (
        "the render node was lost 3 times while rendering this clip (last: The actor "
        "died unexpectedly (node gpu-07)); check the nodes' memory and logs, then run the "
        "batch again"
    )
    assert losses == {"sh010_ab.mkv": 3}


def test_a_policy_needs_one_attempt():
    assert not RetryPolicy(max_attempts=1).should_retry(1)
    with pytest.raises(InvalidParameterError, match="at least one attempt, not 0"):
        RetryPolicy(max_attempts=0)
