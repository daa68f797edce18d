"""The simulation's cheaper rollback for moto's TransactWriteItems (sim.aws.item_rollback): a
transaction that fails leaves every item as it was, one that succeeds is applied, and the table
is not copied."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from scripts import moto_locking
from sim.aws import item_rollback

TABLE = "rollback"


def items(client) -> dict[tuple[str, str], dict]:
    found = client.scan(TableName=TABLE)["Items"]
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in found}


def put(pk: str, sk: str, value: str) -> dict:
    item = {"pk": {"S": pk}, "sk": {"S": sk}, "v": {"S": value}}
    return {"Put": {"TableName": TABLE, "Item": item}}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    moto_locking.apply()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws(), item_rollback():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb


def test_a_failed_transaction_leaves_every_item_as_it_was(client):
    client.transact_write_items(TransactItems=[put("a", "1", "old"), put("a", "2", "old")])
    before = items(client)
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE]

    with pytest.raises(ClientError) as failed:
        client.transact_write_items(
            TransactItems=[
                put("a", "1", "new"),  # changed, then put back
                put("b", "1", "new"),  # made, then removed
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "2"}},
                        "UpdateExpression": "SET v = :v",
                        "ConditionExpression": "v = :expected",
                        "ExpressionAttributeValues": {
                            ":v": {"S": "new"},
                            ":expected": {"S": "something else"},
                        },
                    }
                },
            ]
        )

    assert failed.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert items(client) == before
    assert dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE] is table


def test_a_transaction_that_succeeds_is_applied(client):
    client.transact_write_items(TransactItems=[put("a", "1", "old")])
    client.transact_write_items(
        TransactItems=[
            put("a", "1", "new"),
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "a"}, "sk": {"S": "9"}}}},
            put("c", "1", "new"),
        ]
    )

    found = items(client)
    assert sorted(found) == [("a", "1"), ("c", "1")]
    assert {i["v"]["S"] for i in found.values()} == {"new"}
