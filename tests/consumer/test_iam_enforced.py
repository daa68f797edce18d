"""The consumer's tests run it under template.yaml's IAM policy (issue 13): moto denies what
ConsumerFunction's policy does not grant, as AWS would."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.consumer.conftest import TABLE, Aws


def test_the_consumer_role_is_denied_what_its_policy_does_not_grant(aws: Aws):
    # Given the consumer's credentials (the environment) and the administrator's
    consumer = boto3.session.Session().client("dynamodb")

    # Then the consumer reads its idempotency records and its signing secret
    consumer.get_item(TableName=TABLE, Key={"pk": {"S": "consumer#webhook#evt_1"}})
    boto3.session.Session().client("secretsmanager").get_secret_value(SecretId=aws.secret_arn)
    # but may not scan the table (moto does not model dynamodb:LeadingKeys; the unit test
    # of the policy checks that condition)
    with pytest.raises(ClientError) as caught:
        consumer.scan(TableName=TABLE)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "not authorized to perform: dynamodb:Scan" in str(caught.value)
    # while the administrator may
    aws.items()
