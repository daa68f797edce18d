"""One writer per API key: a lease on the key's fingerprint in the checkpoint table.

A worker exports a key's workspaces only while it holds `keylease#<fingerprint>`: a conditional
UpdateItem taken until the worker's own deadline and removed at its end. A worker that crashed
holds it until that deadline, like a campaign lease (checkpoints.py). The lease is an item of its
own rather than attributes of `quota#<fingerprint>`, because the quota state is written whole
(PutItem) by the exporter and would drop a lease kept beside it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

LEASE_TTL_SECONDS = 3 * 86_400  # DynamoDB removes a forgotten lease item after this


def lease_pk(fingerprint: str) -> str:
    return f"keylease#{fingerprint}"


class KeyLease:
    def __init__(self, dynamodb_client: Any, table: str):
        self.ddb = dynamodb_client
        self.table = table

    def acquire(self, fingerprint: str, owner: str, until_ms: int, now_ms: int) -> bool:
        """True when `owner` holds the key until `until_ms`; False while another does."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": lease_pk(fingerprint)}},
                UpdateExpression="SET lease_owner = :o, lease_until = :u, #ttl = :t",
                ConditionExpression=(
                    "attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :o"
                ),
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":o": {"S": owner},
                    ":u": {"N": str(until_ms)},
                    ":now": {"N": str(now_ms)},
                    ":t": {"N": str(until_ms // 1000 + LEASE_TTL_SECONDS)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, fingerprint: str, owner: str) -> None:
        """Let the key go, if `owner` still holds it."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": lease_pk(fingerprint)}},
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :o",
                ExpressionAttributeValues={":o": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
