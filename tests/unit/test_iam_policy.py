"""template.yaml's function policies allow every AWS call the code makes (issue 13).

moto does not check IAM in process, so a missing permission shows only in real AWS. The `stack`
fixture fails any test whose exporter calls something WorkerFunction's policy does not allow;
these tests show that check at work on the paths that matter.
"""

from __future__ import annotations

import pytest

from tests.conftest import ACCOUNT, BUCKET, REGION, TABLE, Stack, run_exporter
from tests.iam_policy import Need, Physical, PolicyCheck, allows, function_statements
from tests.unit.test_commit_groups import KEY, Killed, disarm, given, kill_at

TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"


def test_recovering_a_crashed_group_calls_only_what_the_exporter_policy_allows(stack, api, clock):
    # Given a group left pending by a run killed right before its commit
    given(stack, api, clock, {"cmp_a": 120, "cmp_b": 30})
    hook = kill_at(stack, "TransactWriteItems", 1, after="PutObject")
    with pytest.raises(Killed):
        run_exporter(stack, clock, api, seconds=120)
    disarm(stack, hook)
    assert [i for i in stack.items() if "pending_group" in i]

    # When the next run meets it
    clock.advance(seconds=121)
    stack.put_secret({"workspaces": [{"name": "acme", "api_key": KEY}]})
    result = run_exporter(stack, clock, api)

    # Then it read the members back with BatchGetItem, and the policy allows all it did
    assert result["status"] == "ok", result
    assert not [i for i in stack.items() if "pending" in i]
    assert stack.policy is not None
    assert "dynamodb:BatchGetItem" in stack.policy.seen
    assert {"s3:PutObject", "sqs:SendMessage", "dynamodb:UpdateItem"} <= stack.policy.seen
    assert stack.policy.denied == []


def test_the_check_records_a_call_the_policy_does_not_allow(stack):
    # Given the check applied to this test's own calls
    check = PolicyCheck(stack.policy.statements, source="tests/unit")  # type: ignore[union-attr]
    check.attach(stack.session)
    dynamodb, s3 = stack.session.client("dynamodb"), stack.session.client("s3")

    # When it reads a checkpoint, lists and heads objects, and scans the table
    dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "campaign#acme#cmp_a"}})
    s3.list_objects_v2(Bucket=BUCKET, Prefix="events/")
    s3.put_object(Bucket=BUCKET, Key="events/x", Body=b"")
    s3.head_object(Bucket=BUCKET, Key="events/x")
    dynamodb.scan(TableName=TABLE)

    # Then only the scan is outside the policy
    assert check.denied == [f"dynamodb:Scan on {TABLE_ARN} (Scan)"]
    assert {"s3:ListBucket", "s3:GetObject", "dynamodb:GetItem"} <= check.seen


def test_resources_outside_the_stack_are_not_allowed(stack: Stack):
    statements = stack.policy.statements  # type: ignore[union-attr]
    other_table = TABLE_ARN.replace(TABLE, "someone-elses-table")

    assert allows(statements, Need("dynamodb:UpdateItem", TABLE_ARN))
    assert not allows(statements, Need("dynamodb:UpdateItem", other_table))
    assert allows(statements, Need("s3:PutObject", f"arn:aws:s3:::{BUCKET}/events/a"))
    assert not allows(statements, Need("s3:PutObject", "arn:aws:s3:::another-bucket/events/a"))
    assert not allows(statements, Need("s3:ListBucket", f"arn:aws:s3:::{BUCKET}/events/a"))


def test_the_consumer_policy_reaches_only_its_own_idempotency_keys():
    physical = Physical(
        refs={"CheckpointTable": TABLE},
        arns={"CheckpointTable": TABLE_ARN},
        conditions={"CreateConsumerWebhookSecret": True},
    )
    statements = function_statements("ConsumerFunction", physical)

    own = Need("dynamodb:PutItem", TABLE_ARN, ("consumer#webhook#evt_1",))
    checkpoint = Need("dynamodb:PutItem", TABLE_ARN, ("campaign#acme#cmp_a",))
    assert allows(statements, own)
    assert not allows(statements, checkpoint)
