"""The CLI against a deployed stack: resources from the CloudFormation stack's outputs, the
dispatcher invoked through Lambda with the request as its payload (moto runs no function here:
Lambda's answers are stubbed, the rest is moto in-process)."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from leadlex_exporter import cli
from leadlex_exporter.control import ControlStore
from leadlex_exporter.deployment import Deployment, OperationError

OUTPUTS = {
    "CheckpointTableName": "prod-checkpoints",
    "ExportBucketName": "prod-export",
    "WorkQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/prod-work",
    "ApiKeysSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-keys",
    "DispatcherFunctionName": "prod-dispatcher",
    "ExportLocation": "s3://prod-export/lake/",
}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch):
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        template = {
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {k: {"Value": v} for k, v in OUTPUTS.items()},
        }
        session.client("cloudformation").create_stack(
            StackName="leadlex", TemplateBody=json.dumps(template)
        )
        session.client("dynamodb").create_table(
            TableName="prod-checkpoints",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield session


def stub_lambda(monkeypatch: pytest.MonkeyPatch, answer: Any, error: str | None = None):
    client = boto3.session.Session(region_name="us-east-1").client("lambda")
    stubber = Stubber(client)
    body = json.dumps(answer).encode()
    response = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
    if error:
        response["FunctionError"] = error
    sent: list[dict[str, Any]] = []
    stubber.add_response("invoke", response)
    stubber.activate()
    original = Deployment.client

    def client_for(self: Deployment, service: str) -> Any:
        return client if service == "lambda" else original(self, service)

    monkeypatch.setattr(Deployment, "client", client_for)
    client.meta.events.register(
        "before-parameter-build.lambda.Invoke",
        lambda params, **_: sent.append(
            {"function": params["FunctionName"], **json.loads(params["Payload"])}
        ),
    )
    return sent


def test_the_stack_outputs_name_every_resource(deployed):
    found = Deployment.from_stack(deployed, "leadlex")
    assert found.table == "prod-checkpoints"
    assert found.bucket == "prod-export"
    assert found.export_prefix == "lake"
    assert found.dispatcher == "prod-dispatcher"
    assert found.work_queue_url.endswith("/prod-work")


def test_a_stack_without_the_outputs_is_named(deployed):
    deployed.client("cloudformation").create_stack(
        StackName="other",
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
    )
    with pytest.raises(OperationError, match="stack 'other' has no output"):
        Deployment.from_stack(deployed, "other")


def test_sync_invokes_the_dispatcher_with_the_request(deployed, monkeypatch):
    sent = stub_lambda(
        monkeypatch, {"status": "ok", "target": {"action": "sync", "workspace": "acme"}}
    )
    out = io.StringIO()
    code = cli.main(["--stack", "leadlex", "sync", "--workspace", "acme", "--no-wait"], out)
    assert code == 0
    assert sent == [
        {"function": "prod-dispatcher", "action": "sync", "workspace": "acme", "campaigns": []}
    ]
    assert "sync of acme queued for the worker" in out.getvalue()


def test_a_refused_request_prints_the_dispatchers_reason(deployed, monkeypatch, capsys):
    stub_lambda(
        monkeypatch,
        {"errorMessage": "invalid request: no workspace named 'nope' in the secret"},
        error="Unhandled",
    )
    code = cli.main(["--stack", "leadlex", "sync", "--workspace", "nope", "--no-wait"])
    assert code == 2
    assert "no workspace named 'nope' in the secret" in capsys.readouterr().err


def test_status_and_pause_read_and_write_the_stacks_table(deployed):
    out = io.StringIO()
    assert cli.main(["--stack", "leadlex", "pause", "--workspace", "acme"], out) == 0
    control = ControlStore(deployed.client("dynamodb"), "prod-checkpoints").load("acme")
    assert control.workspace_paused
    out = io.StringIO()
    assert cli.main(["--stack", "leadlex", "--json", "status"], out) == 0
    (workspace,) = json.loads(out.getvalue())["workspaces"]
    assert workspace["workspace"] == "acme"
    assert workspace["paused"] is True
