"""template.yaml keeps the deployment's promises (docs/design.md, "The path of one event").

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
        "QUOTA_RESERVE_PERCENT": ("QuotaReservePercent", 5),
        "HISTORY_SHARE_PERCENT": ("HistorySharePercent", 10),
        "MAX_POLL_INTERVAL_MINUTES": ("MaxPollIntervalMinutes", 360),
        "POWERTOOLS_LOG_LEVEL": ("LogLevel", "INFO"),
        "TRACE_SDK_CALLS": ("TraceSdkCalls", "false"),
        "WORKSPACE_METRICS": ("WorkspaceMetrics", "false"),
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
    # a Metrics Insights query: the maximum over every worker's runs
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

    # the worker too knows the work queue: an on-demand request held back by a busy key is
    # made visible again soon (ChangeMessageVisibility, granted on that queue only)
    assert env == worker_env
    statements = worker["Policies"][0]["Statement"]
    (reads,) = [s for s in statements if "sqs:ChangeMessageVisibility" in s.get("Action", [])]
    assert reads["Resource"] == {"Fn::GetAtt": [env["WORK_QUEUE_URL"]["Ref"], "Arn"]}


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


def _emitted_metrics(monkeypatch: pytest.MonkeyPatch, capsys: Any, **kwargs: Any) -> dict:
    """{metric name: [sorted dimension names, ...]} of the EMF lines the code prints for a run
    with every figure known, and for a dispatcher tick."""
    from leadlex_exporter.context import CampaignStats
    from leadlex_exporter.metrics import publish, publish_dispatch
    from leadlex_exporter.summary import RunSummary, WorkspaceResult

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the suite silences them
    capsys.readouterr()
    result = WorkspaceResult(
        name="acme", stats=CampaignStats(), quota_remaining=5, max_lag_seconds=1.0
    )
    result.api_clock_skew = 1.0
    publish(RunSummary(run_id="r", workspaces=[result]), "LeadLexExporter", "svc", **kwargs)
    publish_dispatch(1, 0, "LeadLexExporter", "svc")
    emitted: dict[str, list[list[str]]] = {}
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "LeadLexExporter"
        for metric in directive["Metrics"]:
            emitted.setdefault(metric["Name"], []).extend(
                sorted(d) for d in directive["Dimensions"]
            )
    return emitted


def _dashboard(resources: dict[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard body as JSON: `${Resource.Attr}` in strings becomes `<Resource.Attr>`,
    a bare `${Parameter}` (a number) its default."""
    (dashboard,) = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    body = re.sub(r"\$\{([^}]+)\}(?=[^\"]*\"[,\]}])", r"<\1>", body)
    defaults = template["Parameters"]
    body = re.sub(r"\$\{(\w+)\}", lambda m: str(defaults[m.group(1)]["Default"]), body)
    return json.loads(body)


def _dashboard_metrics(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric the dashboard's graphs draw."""
    drawn = []
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            fields = [f for f in row if isinstance(f, str)]
            if fields:
                namespace, name, *dimensions = fields
                drawn.append(
                    (namespace, name, dict(zip(dimensions[::2], dimensions[1::2], strict=True)))
                )
    return drawn


def test_dashboard_draws_metrics_the_code_emits_without_the_workspace_dimension(
    template: dict[str, Any],
    resources: dict[str, Any],
    env: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    emitted = _emitted_metrics(monkeypatch, capsys)
    drawn = _dashboard_metrics(_dashboard(resources, template))
    ours = {(name, tuple(sorted(dims))) for ns, name, dims in drawn if ns == "LeadLexExporter"}
    services = {dims["service"] for ns, _, dims in drawn if ns == "LeadLexExporter"}

    wanted = {
        "MaxLagSeconds",
        "ApiCalls",
        "QuotaRemaining",
        "EventsExported",
        "EventsNotified",
        "CampaignsFailed",
        "WorkspaceFailed",
        "RunsFailed",
    }
    assert wanted <= {name for name, _ in ours}
    for name, dimensions in ours:
        assert [list(dimensions)] == emitted[name], f"{name}: drawn as the code emits it"
    assert services == {env["POWERTOOLS_SERVICE_NAME"]}


def test_dashboard_shows_function_errors_and_every_queue_depth_and_age(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    body = _dashboard(resources, template)
    drawn = _dashboard_metrics(body)
    errors = {
        dims["FunctionName"] for ns, name, dims in drawn if (ns, name) == ("AWS/Lambda", "Errors")
    }
    queues = {
        name: {dims["QueueName"] for ns, n, dims in drawn if ns == "AWS/SQS" and n == name}
        for name in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage")
    }
    alarms_widget = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarmed = {
        arn.strip("<>").removesuffix(".Arn")
        for w in alarms_widget
        for arn in w["properties"]["alarms"]
    }

    assert errors == {"<DispatcherFunction>", "<WorkerFunction>"}
    for queue in ("WorkQueue", "WorkDeadLetterQueue", "NotifyQueue", "NotifyDeadLetterQueue"):
        assert resources[queue]["Type"] == "AWS::SQS::Queue"
        assert f"<{queue}.QueueName>" in queues["ApproximateNumberOfMessagesVisible"]
        assert f"<{queue}.QueueName>" in queues["ApproximateAgeOfOldestMessage"]
    assert "NotifyQueueAgeAlarm" in alarmed
    assert all(resources[name]["Type"] == "AWS::CloudWatch::Alarm" for name in alarmed)
    assert all("Condition" not in resources[name] for name in alarmed)


def test_dashboard_url_is_an_output(template: dict[str, Any], resources: dict[str, Any]) -> None:
    url = template["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]

    assert "#dashboards:name=${" in url
    (name,) = re.findall(r"name=\$\{(\w+)\}", url)
    assert resources[name]["Type"] == "AWS::CloudWatch::Dashboard"


def test_notify_queue_age_alarm_fires_well_before_messages_expire(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    alarm = resources["NotifyQueueAgeAlarm"]["Properties"]
    (watched,) = [q["MetricStat"] for q in alarm["Metrics"] if "MetricStat" in q]
    (shown,) = [q for q in alarm["Metrics"] if q.get("ReturnData")]
    parameter = template["Parameters"]["NotifyQueueAgeAlarmHours"]
    queue = resources["NotifyQueue"]["Properties"]
    retries_seconds = queue["VisibilityTimeout"] * queue["RedrivePolicy"]["maxReceiveCount"]

    assert watched["Metric"]["Namespace"] == "AWS/SQS"
    assert watched["Metric"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert watched["Metric"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["NotifyQueue", "QueueName"]}}
    ]
    assert watched["Stat"] == "Maximum"
    assert shown["Expression"] == "oldestSeconds / 3600"  # hours, as the threshold
    assert alarm["Threshold"] == {"Ref": "NotifyQueueAgeAlarmHours"}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    # well before the queue drops messages, and never for the redelivery of a failing record
    assert parameter["MaxValue"] * 3600 < queue["MessageRetentionPeriod"]
    assert parameter["Default"] * 3600 <= queue["MessageRetentionPeriod"] / 2
    assert parameter["MinValue"] * 3600 > retries_seconds
    assert alarm["AlarmActions"] == {
        "Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]
    }
    assert alarm["OKActions"] == alarm["AlarmActions"]


def test_metric_alarms_query_the_dimensions_the_code_emits_by_default(
    resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    emitted = _emitted_metrics(monkeypatch, capsys)
    queries = [
        q["Expression"]
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        for q in r["Properties"].get("Metrics", [])
        if "SCHEMA(" in q.get("Expression", "")
    ]

    assert len(queries) == 2  # data stale, quota exhausted
    for query in queries:
        match = re.search(r"SELECT MAX\((\w+)\) FROM SCHEMA\(LeadLexExporter, ([\w, ]+)\)", query)
        assert match, query
        name, dimensions = match.group(1), sorted(d.strip() for d in match.group(2).split(","))
        assert [dimensions] == emitted[name], query


def test_per_workspace_metrics_are_opt_in_and_only_add_to_the_default(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    default = _emitted_metrics(monkeypatch, capsys)
    opted_in = _emitted_metrics(monkeypatch, capsys, per_workspace=True)

    assert not [name for name, sets in default.items() if any("workspace" in s for s in sets)]
    assert set(opted_in) == set(default)
    assert opted_in["MaxLagSeconds"] == [["service", "workspace"], ["service"]]
