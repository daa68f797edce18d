"""The IAM policies template.yaml gives the functions, checked against what the code calls.

Two checks use these statements:
- `PolicyCheck` (unit suite): a botocore hook sees every call the exporter makes, turns it into
  the IAM actions and resources AWS would authorize, and records the ones no statement allows.
- `moto_statements` (integration suites): the same statements as an inline policy moto can
  enforce, for the role the code under test runs as.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from tests.cfn import ROOT, load_template

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
NO_VALUE = object()

# Operations AWS authorizes under another action's name (the rest: prefix:OperationName).
ACTION_OF = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# A TransactWriteItems is authorized item by item, as the single-item action.
TRANSACT_ACTION = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@dataclass(frozen=True)
class Need:
    """One authorization AWS makes for a call: an action on a resource."""

    action: str
    resource: str
    leading_keys: tuple[str, ...] = ()


@dataclass
class Physical:
    """Logical id -> what `!Ref` and `!GetAtt X.Arn` give in the test stack."""

    refs: dict[str, str]
    arns: dict[str, str]
    conditions: dict[str, bool]


def function_statements(function: str, physical: Physical) -> list[dict[str, Any]]:
    """The statements of the function's `Policies`, resolved to the test stack's resources."""
    resource = _template()["Resources"][function]
    statements: list[dict[str, Any]] = []
    for policy in resource["Properties"]["Policies"]:
        assert isinstance(policy, dict), f"{function}: only inline policy documents are checked"
        statements += _resolve(policy["Statement"], physical)
    return statements


def _resolve(node: Any, physical: Physical) -> Any:
    if isinstance(node, list):
        return [v for v in (_resolve(n, physical) for n in node) if v is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        name = node["Ref"]
        if name == "AWS::NoValue":
            return NO_VALUE
        # A reference the test stack has no resource for (a parameter such as an existing
        # secret's ARN) can only be unknown here: '*' grants it whatever it is.
        return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT}.get(
            name, physical.refs.get(name, "*")
        )
    if set(node) == {"Fn::GetAtt"}:
        name, attribute = node["Fn::GetAtt"]
        assert attribute == "Arn", node
        return physical.arns.get(name, "*")
    if set(node) == {"Fn::Sub"}:
        return re.sub(
            r"\$\{([^}!]+)\}",
            lambda m: str(_sub_value(m.group(1), physical)),
            node["Fn::Sub"],
        )
    if set(node) == {"Fn::If"}:
        condition, when_true, when_false = node["Fn::If"]
        return _resolve(when_true if physical.conditions[condition] else when_false, physical)
    return {k: _resolve(v, physical) for k, v in node.items()}


def _sub_value(name: str, physical: Physical) -> Any:
    if name.endswith(".Arn"):
        return _resolve({"Fn::GetAtt": [name[: -len(".Arn")], "Arn"]}, physical)
    return _resolve({"Ref": name}, physical)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(statements: list[dict[str, Any]], need: Need) -> bool:
    """IAM's evaluation for one identity policy: an explicit Deny wins, else any Allow."""
    allowed = False
    for statement in statements:
        if not _matches(statement, need):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def _matches(statement: dict[str, Any], need: Need) -> bool:
    actions = [a.lower() for a in _as_list(statement["Action"])]
    if not any(fnmatch.fnmatchcase(need.action.lower(), a) for a in actions):
        return False
    if not any(fnmatch.fnmatchcase(need.resource, r) for r in _as_list(statement["Resource"])):
        return False
    for operator, tests in statement.get("Condition", {}).items():
        for key, wanted in tests.items():
            if (operator, key) == ("ForAllValues:StringLike", "dynamodb:LeadingKeys"):
                patterns = _as_list(wanted)
                if not all(
                    any(fnmatch.fnmatchcase(k, p) for p in patterns) for k in need.leading_keys
                ):
                    return False
            else:
                raise AssertionError(f"condition {operator} {key} is not modelled; add it here")
    return True


@functools.cache
def _template() -> dict[str, Any]:
    """Read once per test session (the statements are resolved into new objects)."""
    return load_template()


@functools.cache
def partition_key() -> str:
    """The checkpoint table's hash key, as the template declares it."""
    table = _template()["Resources"]["CheckpointTable"]["Properties"]
    return str(next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH"))


def needs(
    service: str, operation: str, params: dict[str, Any], secrets: dict[str, str]
) -> list[Need]:
    """What AWS authorizes for one call, from its API parameters."""
    action = ACTION_OF.get(f"{service}:{operation}", f"{service}:{operation}")
    if service == "s3":
        key = params.get("Key")
        return [Need(action, f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key else ""))]
    if service == "sqs":
        name = params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        return [Need(action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")]
    if service == "secretsmanager":
        secret = params["SecretId"]
        return [Need(action, secret if secret.startswith("arn:") else secrets.get(secret, secret))]
    if service == "dynamodb":
        return _dynamodb_needs(action, params)
    return [Need(action, "*")]


def _dynamodb_needs(action: str, params: dict[str, Any]) -> list[Need]:
    pk = partition_key()

    def table(name: str) -> str:
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"

    def leading(*items: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(next(iter(i[pk].values()))) for i in items if pk in i)

    if action == "dynamodb:TransactWriteItems":
        out = []
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            out.append(
                Need(
                    TRANSACT_ACTION[kind],
                    table(body["TableName"]),
                    leading(body.get("Key") or body["Item"]),
                )
            )
        return out
    if action in ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"):
        out = []
        for name, request in params["RequestItems"].items():
            keys = (
                request["Keys"]
                if isinstance(request, dict)
                else [
                    r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"]
                    for r in request
                ]
            )
            out.append(Need(action, table(name), leading(*keys)))
        return out
    keyed = [params[k] for k in ("Key", "Item") if k in params]
    return [Need(action, table(params["TableName"]), leading(*keyed))]


@dataclass
class PolicyCheck:
    """Records every AWS call made from code under `source` (a folder of the repository, e.g.
    src/leadlex_exporter) that `statements` do not allow."""

    statements: list[dict[str, Any]]
    source: str
    secrets: dict[str, str] = field(default_factory=dict)
    denied: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def attach(self, session: Any) -> None:
        # before-parameter-build carries the API parameters (before-call has the HTTP request).
        session.events.register("before-parameter-build", self.on_call)

    def on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self._called_from_package():
            return  # the test's own setup and assertions run as an administrator
        service = model.service_model.signing_name
        for need in needs(service, model.name, params, self.secrets):
            self.seen.add(need.action)
            if not allows(self.statements, need):
                self.denied.append(f"{need.action} on {need.resource} ({model.name})")

    def _called_from_package(self) -> bool:
        source = str(ROOT / self.source)
        frame = sys._getframe(2)  # noqa: SLF001 - the caller of botocore's client method
        while frame is not None:
            if frame.f_code.co_filename.startswith(source):
                return True
            frame = frame.f_back  # type: ignore[assignment]
        return False


# moto authorizes the operation's own name, not the action AWS checks for it.
MOTO_ALIASES = {
    "sqs:SendMessage": ["sqs:SendMessageBatch"],
    "sqs:DeleteMessage": ["sqs:DeleteMessageBatch"],
    # AWS checks each item of a TransactWriteItems as its single-item action; moto checks
    # dynamodb:TransactWriteItems. The exporter's transactions only update (PolicyCheck
    # checks them item by item).
    "dynamodb:UpdateItem": ["dynamodb:TransactWriteItems"],
}
# moto passes these services' calls to the policy with Resource "*" (it only resolves S3 object
# and bucket ARNs and SQS queue ARNs), so a statement naming an ARN would deny every call.
MOTO_RESOURCES = ("s3:", "sqs:")


def moto_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The statements as moto can enforce them: actions plus moto's aliases; resources kept
    where moto compares them, '*' where it cannot. PolicyCheck covers the resources there."""
    out = []
    for statement in copy.deepcopy(statements):
        actions = _as_list(statement["Action"])
        statement["Action"] = actions + [a for x in actions for a in MOTO_ALIASES.get(x, [])]
        if not all(a.startswith(MOTO_RESOURCES) for a in actions):
            statement["Resource"] = "*"
        out.append(statement)
    return out


@dataclass
class Administrator:
    session: Any  # boto3 session: the test's own setup and assertions
    arn: str


def create_administrator(unchecked: Any) -> Administrator:
    """An IAM user allowed everything, created through `unchecked` (a session moto does not
    check yet); its access key has no session token, as a user's has none."""
    iam = unchecked.client("iam")
    user = iam.create_user(UserName="test-admin")["User"]
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    iam.put_user_policy(
        UserName="test-admin",
        PolicyName="everything",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [everything]}),
    )
    key = iam.create_access_key(UserName="test-admin")["AccessKey"]
    session = type(unchecked)(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=unchecked.region_name,
    )
    return Administrator(session=session, arn=user["Arn"])


def function_role(
    admin: Administrator, function: str, statements: list[dict[str, Any]]
) -> dict[str, str]:
    """A role whose only policy is `statements` (as moto can enforce them), assumed by the
    administrator: the environment variables Lambda would give the function."""
    iam = admin.session.client("iam")
    trust = {
        "Effect": "Allow",
        "Principal": {"AWS": admin.arn},
        "Action": "sts:AssumeRole",
    }
    role = iam.create_role(
        RoleName=function,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )["Role"]
    policy = {"Version": "2012-10-17", "Statement": moto_statements(statements)}
    iam.put_role_policy(RoleName=function, PolicyName="template", PolicyDocument=json.dumps(policy))
    credentials = admin.session.client("sts").assume_role(
        RoleArn=role["Arn"], RoleSessionName=function
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
