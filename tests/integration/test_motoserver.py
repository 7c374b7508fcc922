"""The sandbox moto server as a subprocess (``orchestrator sandbox up``): start, answer, reset, stop."""

from __future__ import annotations

import json
import os

import boto3
import pytest

from orchestrator.sandbox import motoserver

pytestmark = pytest.mark.integration


def test_subprocess_server_starts_resets_and_stops(tmp_path, monkeypatch):
    """A started server answers boto3 on 127.0.0.1, forgets everything on reset, and stops by pid."""
    state = motoserver.start(log_file=tmp_path / "moto.log")
    try:
        saved = motoserver.MotoServerState.from_dict(json.loads(json.dumps(state.to_dict())))
        assert saved == state and state.endpoint.startswith("http://127.0.0.1:")
        for key, value in motoserver.client_env(state.endpoint).items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
        sqs = boto3.Session(region_name="us-west-2").client("sqs")
        sqs.create_queue(QueueName="probe")
        assert len(sqs.list_queues().get("QueueUrls", [])) == 1
        motoserver.reset(state.endpoint)
        assert sqs.list_queues().get("QueueUrls", []) == []
    finally:
        assert motoserver.stop(state.pid)
    assert not motoserver.is_ready(state.endpoint)
    assert motoserver.stop(state.pid) is False
    with pytest.raises(ProcessLookupError):
        os.kill(state.pid, 0)


def test_in_process_server_context(monkeypatch):
    """The in-process server answers while open."""
    with motoserver.InProcessMotoServer() as server:
        assert motoserver.is_ready(server.endpoint)
        assert server.endpoint.startswith("http://127.0.0.1:")


def test_non_http_endpoints_are_refused():
    """Management calls only go to http(s) endpoints."""
    with pytest.raises(motoserver.MotoUnavailable):
        motoserver.reset("file:///etc/passwd")
