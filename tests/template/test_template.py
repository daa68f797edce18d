"""template.yaml keeps the promises of the deployment contract (CONTRACT.md, "Deployment").

The template is read as plain data: CloudFormation tags become their JSON form
(`!Ref X` -> {"Ref": "X"}), so the assertions read like the deployed template.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
TICK_EVENT = ROOT / "events" / "scheduled-tick.json"

EVENT_FIELDS = ["id", "type", "contact_id", "email", "step_id", "timestamp", "metadata"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture(scope="module")
def exporter(resources: dict[str, Any]) -> dict[str, Any]:
    scheduled = [r for r in resources.values() if _schedule_events(r)]
    assert len(scheduled) == 1
    return scheduled[0]["Properties"]


@pytest.fixture(scope="module")
def env(exporter: dict[str, Any]) -> dict[str, Any]:
    return exporter["Environment"]["Variables"]


@pytest.fixture(scope="module")
def worker(resources: dict[str, Any]) -> dict[str, Any]:
    """The function the work queue's mapping runs (the exporter's dispatcher fans out to it)."""
    mapped = {
        r["Properties"]["FunctionName"]["Ref"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and "Condition" not in r  # the reference consumer's mapping is optional
    }
    (name,) = mapped
    return resources[name]["Properties"]


def _schedule_events(resource: dict[str, Any]) -> list[dict[str, Any]]:
    if resource.get("Type") != "AWS::Serverless::Function":
        return []
    events = resource.get("Properties", {}).get("Events", {})
    return [e for e in events.values() if e.get("Type") in ("Schedule", "ScheduleV2")]


def _ref_type(resources: dict[str, Any], value: Any) -> str:
    assert isinstance(value, dict), value
    assert set(value) == {"Ref"}, value
    return str(resources[value["Ref"]]["Type"])


def _glue_table(resources: dict[str, Any]) -> dict[str, Any]:
    (table,) = [r for r in resources.values() if r["Type"] == "AWS::Glue::Table"]
    return table["Properties"]["TableInput"]


def _sub_text(value: Any) -> str:
    """The text of a !Sub as S3 or Athena will see it (`${!x}` is a literal `${x}`)."""
    assert isinstance(value, dict), value
    assert "Fn::Sub" in value, value
    return str(value["Fn::Sub"]).replace("${!", "${")


def _allow_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for resource in resources.values():
        # SAM: Policies lists managed-policy names (str) and inline documents (dict);
        # IAM roles list {"PolicyName", "PolicyDocument"}; IAM policies have a PolicyDocument.
        policies = resource.get("Properties", {}).get("Policies", [])
        documents = [p.get("PolicyDocument", p) for p in policies if isinstance(p, dict)]
        if resource["Type"].startswith("AWS::IAM::"):
            documents.append(resource["Properties"].get("PolicyDocument", {}))
        for document in documents:
            for statement in document.get("Statement", []):
                if "Fn::If" in statement:  # optional statement: [condition, statement, NoValue]
                    statement = statement["Fn::If"][1]
                if statement.get("Effect") == "Allow":
                    statements.append(statement)
    return statements


def test_exactly_one_function_runs_on_a_schedule(resources: dict[str, Any]) -> None:
    functions = [r for r in resources.values() if _schedule_events(r)]

    assert len(functions) == 1
    assert len(_schedule_events(functions[0])) == 1


@pytest.mark.parametrize("function", ["exporter", "worker"])
def test_handler_is_dotted_and_points_at_a_module_under_code_uri(
    function: str, request: pytest.FixtureRequest
) -> None:
    properties = request.getfixturevalue(function)
    handler = properties["Handler"]

    assert re.fullmatch(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*){2,}", handler)
    module, _, _function = handler.rpartition(".")
    assert (ROOT / properties["CodeUri"] / (module.replace(".", "/") + ".py")).is_file()
    assert (ROOT / properties["CodeUri"] / "requirements.txt").is_file()


def test_environment_references_the_stack_resources(
    resources: dict[str, Any], env: dict[str, Any]
) -> None:
    assert _ref_type(resources, env["EXPORT_BUCKET"]) == "AWS::S3::Bucket"
    assert _ref_type(resources, env["NOTIFY_QUEUE_URL"]) == "AWS::SQS::Queue"
    assert _ref_type(resources, env["CHECKPOINT_TABLE"]) == "AWS::DynamoDB::Table"
    condition, created, existing = env["API_KEYS_SECRET_ID"]["Fn::If"]
    assert _ref_type(resources, created) == "AWS::SecretsManager::Secret"
    assert resources[created["Ref"]]["Condition"] == condition
    assert existing == {"Ref": "ExistingSecretArn"}


def test_environment_carries_every_setting_the_code_reads(
    template: dict[str, Any], env: dict[str, Any]
) -> None:
    parameters = template["Parameters"]
    by_parameter = {
        "EXPORT_PREFIX": ("ExportPrefix", "events"),
        "NOTIFY_EVENT_TYPES": ("NotifyEventTypes", "clicked,replied"),
        "LEADLEX_API_URL": ("LeadLexApiUrl", "https://data.leadlex.com/functions/v1/api-gateway"),
        "LOOKBACK_MINUTES": ("LookbackMinutes", 10),
        "BACKFILL_DAYS": ("BackfillDays", 0),
        "QUOTA_RESERVE_PERCENT": ("QuotaReservePercent", 10),
        "MAX_POLL_INTERVAL_MINUTES": ("MaxPollIntervalMinutes", 360),
        "POWERTOOLS_LOG_LEVEL": ("LogLevel", "INFO"),
        "TRACE_SDK_CALLS": ("TraceSdkCalls", "false"),
    }
    for variable, (parameter, default) in by_parameter.items():
        assert env[variable] == {"Ref": parameter}
        assert parameters[parameter]["Default"] == default

    assert env["QUARANTINE_PREFIX"] == "quarantine"
    assert "STAGING_PREFIX" not in env  # commit groups need no staging copy
    assert env["MALLOC_ARENA_MAX"] == "2"  # bench.__main__ runs the exporter with it too
    assert env["POWERTOOLS_SERVICE_NAME"] == "leadlex-exporter"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "LeadLexExporter"


def test_sdk_call_tracing_is_opt_in_and_invocations_are_traced_regardless(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    parameter = template["Parameters"]["TraceSdkCalls"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]

    assert template["Globals"]["Function"]["Tracing"] == "Active"
    assert parameter["Default"] == "false"
    assert sorted(parameter["AllowedValues"]) == ["false", "true"]
    assert len(functions) == 3  # the dispatcher, the worker and the reference consumer
    for function in functions:
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["TRACE_SDK_CALLS"] == {"Ref": "TraceSdkCalls"}
        assert "Tracing" not in function["Properties"]


def test_schedule_retries_and_failures_land_in_a_dead_letter_queue(
    resources: dict[str, Any], exporter: dict[str, Any]
) -> None:
    (tick,) = [e for e in exporter["Events"].values() if e["Type"] == "ScheduleV2"]
    dlq = tick["Properties"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    on_failure = exporter["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]

    assert tick["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert exporter["EventInvokeConfig"]["MaximumRetryAttempts"] in (0, 1)
    assert on_failure["Type"] == "SQS"
    assert resources[on_failure["Destination"]["Fn::GetAtt"][0]]["Type"] == "AWS::SQS::Queue"
    assert resources[dlq]["Type"] == "AWS::SQS::Queue"


def test_tick_payload_file_has_the_shape_the_schedule_sends(exporter: dict[str, Any]) -> None:
    (tick,) = exporter["Events"].values()
    sent = json.loads(_sub_text(tick["Properties"]["Input"]))
    recorded = json.loads(TICK_EVENT.read_text())

    assert recorded.keys() == sent.keys()
    assert recorded["detail"].keys() == sent["detail"].keys()
    assert recorded["detail-type"] == sent["detail-type"] == "Scheduled Event"


def test_notify_queue_redrives_to_its_own_dead_letter_queue(
    resources: dict[str, Any], env: dict[str, Any]
) -> None:
    queue = resources[env["NOTIFY_QUEUE_URL"]["Ref"]]["Properties"]
    redrive = queue["RedrivePolicy"]
    dlq_name = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]

    assert resources[dlq_name]["Type"] == "AWS::SQS::Queue"
    assert dlq_name != env["NOTIFY_QUEUE_URL"]["Ref"]
    assert redrive["maxReceiveCount"] >= 1
    assert queue["KmsMasterKeyId"]


def test_checkpoint_table_is_keyed_by_pk_alone_with_ttl(
    resources: dict[str, Any], env: dict[str, Any]
) -> None:
    table = resources[env["CHECKPOINT_TABLE"]["Ref"]]["Properties"]

    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_glue_table_partitions_by_event_date_like_the_object_keys(
    resources: dict[str, Any],
) -> None:
    table = _glue_table(resources)
    location = _sub_text(table["StorageDescriptor"]["Location"])
    parameters = table["Parameters"]

    assert location == "s3://${ExportBucket}/${ExportPrefix}/"
    assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [("event_date", "string")]
    assert _sub_text(parameters["storage.location.template"]) == (
        location + "event_date=${event_date}/"
    )
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.event_date.type"] == "date"
    assert parameters["projection.event_date.format"] == "yyyy-MM-dd"
    assert parameters["projection.event_date.range"].endswith(",NOW")


def test_glue_table_reads_every_exported_field_as_json(resources: dict[str, Any]) -> None:
    descriptor = _glue_table(resources)["StorageDescriptor"]
    columns = {c["Name"]: c["Type"] for c in descriptor["Columns"]}

    assert list(columns) == [*EVENT_FIELDS, "workspace", "campaign_id", "exported_at", "export_run"]
    assert columns["metadata"] == "string"  # any JSON shape stays readable
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert descriptor["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"


def test_iam_allows_no_wildcard_actions_or_resources(resources: dict[str, Any]) -> None:
    statements = _allow_statements(resources)

    assert statements
    for statement in statements:
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert "*" not in action, statement
        assert statement["Resource"] != "*", statement


def test_alarms_watch_errors_dead_letters_staleness_and_quota(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms if "MetricName" in a}
    queries = [q["Expression"] for a in alarms for q in a.get("Metrics", []) if "Expression" in q]
    dlq_alarm_targets = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
        if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    dead_letter_queues = {
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" not in r["Properties"]
    }
    (stale,) = [
        a
        for a in alarms
        if any("MAX(MaxLagSeconds)" in q.get("Expression", "") for q in a.get("Metrics", []))
    ]
    parameters = template["Parameters"]

    assert ("AWS/Lambda", "Errors") in watched
    # QuotaExhausted carries a workspace dimension, so its alarm aggregates over all of them.
    assert any("MAX(QuotaExhausted) FROM SCHEMA(LeadLexExporter" in q for q in queries)
    assert dlq_alarm_targets == dead_letter_queues
    # Data staleness, not runs: no alarm counts successful runs any more.
    assert not [a for a in alarms if a.get("MetricName") == "RunsSucceeded"]
    assert stale["TreatMissingData"] == "breaching"
    assert stale["Threshold"] == {"Ref": "StaleAfterHours"}
    # a quiet campaign's lag reaches the maximum poll interval by design: alarm only above it
    longest = parameters["MaxPollIntervalMinutes"]["Default"]
    assert parameters["StaleAfterHours"]["Default"] * 60 > longest


def test_every_checkov_skip_says_why(resources: dict[str, Any]) -> None:
    skips = [
        skip
        for r in resources.values()
        for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    assert skips
    for skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"])
        assert len(skip.get("comment", "")) > 20, skip


def test_worker_runs_only_from_the_work_queue_one_key_per_invocation(
    template: dict[str, Any], resources: dict[str, Any], worker: dict[str, Any], env: dict[str, Any]
) -> None:
    (mapping,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping" and "Condition" not in r
    ]
    queue_name = mapping["EventSourceArn"]["Fn::GetAtt"][0]
    concurrency = template["Parameters"]["MaxWorkerConcurrency"]

    assert "Events" not in worker  # nothing but the mapping invokes it
    assert env["WORK_QUEUE_URL"] == {"Ref": queue_name}  # the dispatcher feeds that queue
    assert resources[queue_name]["Type"] == "AWS::SQS::Queue"
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "MaxWorkerConcurrency"}
    assert concurrency["Default"] == 5
    assert concurrency["MinValue"] >= 2  # Lambda's minimum for MaximumConcurrency


def test_work_queue_outlasts_the_worker_and_redrives_to_an_alarmed_dead_letter_queue(
    resources: dict[str, Any], worker: dict[str, Any], env: dict[str, Any]
) -> None:
    queue = resources[env["WORK_QUEUE_URL"]["Ref"]]["Properties"]
    redrive = queue["RedrivePolicy"]
    dlq_name = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    alarmed = {
        r["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }

    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert queue["MessageRetentionPeriod"] > redrive["maxReceiveCount"] * queue["VisibilityTimeout"]
    assert 1 < redrive["maxReceiveCount"] <= 5
    assert queue["KmsMasterKeyId"]
    assert resources[dlq_name]["Properties"]["KmsMasterKeyId"]
    assert dlq_name in alarmed


def test_worker_and_dispatcher_read_the_same_settings(
    env: dict[str, Any], worker: dict[str, Any]
) -> None:
    worker_env = worker["Environment"]["Variables"]

    assert {k: v for k, v in env.items() if k != "WORK_QUEUE_URL"} == worker_env
    assert "WORK_QUEUE_URL" not in worker_env


def test_schedule_runs_every_schedule_minutes_and_both_functions_know_it(
    template: dict[str, Any], exporter: dict[str, Any], env: dict[str, Any], worker: dict[str, Any]
) -> None:
    (tick,) = exporter["Events"].values()
    condition, singular, plural = tick["Properties"]["ScheduleExpression"]["Fn::If"]
    parameter = template["Parameters"]["ScheduleMinutes"]

    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "ScheduleMinutes"}, 1]}
    assert singular == "rate(1 minute)"
    assert plural == {"Fn::Sub": "rate(${ScheduleMinutes} minutes)"}
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 15, 1)
    for variables in (env, worker["Environment"]["Variables"]):
        assert variables["RUN_INTERVAL_MINUTES"] == {"Ref": "ScheduleMinutes"}


def _statements_of(properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    statements = {}
    for policy in properties["Policies"]:
        for statement in policy["Statement"]:
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            statements[statement["Sid"]] = statement
    return statements


def test_dispatcher_may_read_the_keys_and_send_work_and_nothing_else(
    exporter: dict[str, Any], env: dict[str, Any]
) -> None:
    statements = _statements_of(exporter)

    assert set(statements) == {"DispatchWork", "ReadApiKeys", "DecryptExistingSecret"}
    assert statements["DispatchWork"]["Action"] == ["sqs:SendMessage"]
    assert statements["DispatchWork"]["Resource"] == {
        "Fn::GetAtt": [env["WORK_QUEUE_URL"]["Ref"], "Arn"]
    }


def test_worker_may_consume_its_queue_and_write_the_export(
    worker: dict[str, Any], env: dict[str, Any]
) -> None:
    statements = _statements_of(worker)

    assert statements["ReadWorkQueue"]["Resource"] == {
        "Fn::GetAtt": [env["WORK_QUEUE_URL"]["Ref"], "Arn"]
    }
    assert {"ExportObjects", "NotifyEvents", "Checkpoints", "ReadApiKeys"} <= set(statements)
    assert "dynamodb:UpdateItem" in statements["Checkpoints"]["Action"]  # leases
