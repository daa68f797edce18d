"""The benchmark's verdicts and its one change to moto's DynamoDB are themselves right.

`bench/report.py` decides which of issue 5's targets hold; `bench/moto_server.py` makes moto's
transaction backup once per table. Both are checked here without running the benchmark.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import report
from bench.workloads import workloads

ROOT = Path(__file__).resolve().parents[2]


def run(workload: str, tool: str, events: int, seconds: float, rss: float, **extra: Any) -> dict:
    result: dict[str, Any] = {
        "workload": workload,
        "tool": tool,
        "status": "ok",
        "events": events,
        "expected_events": events,
        "seconds": seconds,
        "peak_rss_mb": rss,
        "api_calls": {"total": 0},
        "notified": 0,
        "commits": 1,
        "aws": {"event_objects": 0, "sqs_requests": 0, "sqs_partial_batches": 0},
    }
    for key, value in extra.items():
        if key in ("event_objects", "sqs_requests"):
            result["aws"][key] = value
        else:
            result[key] = value
    return result


def verdicts(results: list[dict[str, Any]]) -> dict[str, bool]:
    items = [w for w in workloads(0.01) if w.name in ("a", "b", "c")]
    by = {(r["workload"], r["tool"]): r for r in results}
    for r in results:
        w = next(w for w in items if w.name == r["workload"])
        r["api_calls"]["total"] = w.lower_bound
        r["s3_records"] = r["s3_distinct_ids"] = sum(w.campaigns.values())
        r["events"] = r["expected_events"] = w.events if r["events"] else 0
    return {text: ok for ok, text in report.targets(items, by, None)}


def find(checks: dict[str, bool], *words: str) -> bool:
    (ok,) = [ok for text, ok in checks.items() if all(w in text for w in words)]
    return ok


def test_throughput_is_judged_on_the_same_work_and_reported_with_sqs():
    results = [
        run("a", "ours", 1, 4.0, 70, event_objects=3, notified=10),
        run("a", "ours-s3", 1, 1.0, 60),
        run("a", "dlt", 1, 6.0, 150),
        run("b", "ours", 1, 6.0, 80, event_objects=1),
        run("b", "dlt", 1, 6.0, 150),
        run("c", "ours", 0, 1.0, 51),
        run("c", "dlt", 0, 2.0, 100),
    ]
    checks = verdicts(results)

    assert not [t for t in checks if "with SQS" in t or "SQS messages" in t]
    assert find(checks, "a: throughput", "same work") is True  # 6x
    assert find(checks, "a (S3 only)", "records in S3") is True
    assert find(checks, "a: memory") is True  # 70 of 150
    assert find(checks, "b: memory") is False  # 80 of 150
    assert find(checks, "c: memory") is False  # 51 of 100: the idle run is judged too
    assert not [t for t in checks if t.startswith("b: throughput") and "same work" in t]
    items = [w for w in workloads(0.01) if w.name in ("a", "b", "c")]
    by = {(r["workload"], r["tool"]): r for r in results}
    assert report.with_notifications(items, by) == [
        "a: throughput 1.50x dlt's with 10 SQS messages sent as well",
        "b: throughput 1.00x dlt's with 0 SQS messages sent as well",
    ]


def test_throughput_is_the_median_of_the_alternating_pairs_and_each_repeat_is_checked():
    items = [w for w in workloads(0.01) if w.name in ("a", "b", "c")]
    b_events = next(w for w in items if w.name == "b").events
    results = [
        run("b", "ours", b_events, 6.0, 70),
        run("b", "ours-s3", b_events, 4.0, 60),  # 2.5x: one slow pair
        run("b", "dlt", b_events, 10.0, 150),
    ]
    repeats = [
        {**run("b", "ours-s3", b_events, 3.0, 60), "round": 2},  # 3.33x
        {**run("b", "dlt", b_events, 10.0, 150), "round": 2},
        {**run("b", "ours-s3", b_events, 3.2, 60), "round": 3},  # 3.44x
        {**run("b", "dlt", b_events, 11.0, 150), "round": 3},
    ]
    by = {(r["workload"], r["tool"]): r for r in results}
    for r in results + repeats:
        r["api_calls"]["total"] = next(w for w in items if w.name == "b").lower_bound
        r["s3_records"] = r["s3_distinct_ids"] = b_events
    repeats[2]["s3_distinct_ids"] = b_events - 1  # round 3 exported one event twice

    checks = {text: ok for ok, text in report.targets(items, by, None, repeats)}

    assert find(checks, "b: throughput", "median of 3 alternating pairs: 2.50x, 3.33x, 3.44x")
    assert find(checks, "b (S3 only, round 2)") is True
    assert find(checks, "b (S3 only, round 3)") is False
    only_first = {text: ok for ok, text in report.targets(items, by, None)}
    assert find(only_first, "b: throughput", "median of 1 alternating pair: 2.50x") is False
    pairs = report.same_work_pairs("b", by, repeats)
    assert [(k, same["seconds"], peer["seconds"]) for k, same, peer in pairs] == [
        (1, 4.0, 10.0),
        (2, 3.0, 10.0),
        (3, 3.2, 11.0),
    ]


def test_sqs_requests_are_held_to_ceil_n_over_10():
    n = 1_001
    checks = verdicts(
        [
            run("a", "ours", 1, 1.0, 70, event_objects=1, notified=n, sqs_requests=101),
            run("b", "ours", 1, 1.0, 70, event_objects=1, notified=n, sqs_requests=102),
        ]
    )

    assert math.ceil(n / 10) == 101
    assert find(checks, "a:", "SQS requests") is True
    assert find(checks, "b:", "SQS requests") is False


_TRANSACTIONS = """
import boto3, bench.moto_server  # the patch, as the benchmark's moto server loads it
from botocore.exceptions import ClientError
from moto import mock_aws

with mock_aws():
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    for i in range(3):
        ddb.put_item(TableName="t", Item={"pk": {"S": f"k{i}"}, "n": {"N": "0"}})

    def bump(pk, expected):
        return {"Update": {"TableName": "t", "Key": {"pk": {"S": pk}},
                "UpdateExpression": "SET n = n + :one", "ConditionExpression": "n = :n",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":n": {"N": expected}}}}

    ddb.transact_write_items(TransactItems=[bump("k0", "0"), bump("k1", "0")])
    try:
        ddb.transact_write_items(TransactItems=[bump("k0", "1"), bump("k2", "5")])
        print("not cancelled")
    except ClientError as exc:
        print(exc.response["Error"]["Code"])
    items = {i["pk"]["S"]: i["n"]["N"] for i in ddb.scan(TableName="t")["Items"]}
    print(sorted(items.items()))
"""


def test_the_moto_patch_keeps_transactions_all_or_nothing():
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(  # noqa: S603 - our interpreter; the patch must not leak into tests
        [sys.executable, "-c", _TRANSACTIONS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    code, items = done.stdout.strip().splitlines()
    assert code == "TransactionCanceledException"
    # The first transaction applied both updates; the cancelled one applied neither.
    assert items == "[('k0', '1'), ('k1', '1'), ('k2', '0')]"


def test_the_bench_moto_server_keeps_a_connection_alive_and_drains_unread_bodies():
    import http.client
    import time

    from scripts.local_stack import free_port

    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our interpreter and our wrapper of moto's server
        [sys.executable, "-m", "bench.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(100):
            try:
                connection.request("GET", "/moto-api/")
                connection.getresponse().read()
                break
            except OSError:
                connection.close()
                time.sleep(0.1)
        sockets = set()
        statuses = []
        for body in (b"", b"x" * 70_000, b"{}"):  # moto-api ignores the body of a GET
            connection.request("GET", "/moto-api/", body=body)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            sockets.add(id(connection.sock))
        assert statuses == [200, 200, 200]
        assert len(sockets) == 1, "every request reconnected"
        assert response.getheader("Connection") != "close"
    finally:
        server.terminate()
        server.wait(timeout=10)


_QUEUE_ATTRIBUTES = """
import sys, json, boto3
if sys.argv[1] == "patched":
    import bench.moto_server  # noqa: F401 - the patch, as the benchmark's moto server loads it
from moto import mock_aws

with mock_aws():
    sqs = boto3.client("sqs", region_name="us-east-1")
    for name, extra in (("q", {}), ("q.fifo", {"FifoQueue": "true"})):
        url = sqs.create_queue(QueueName=name, Attributes=extra)["QueueUrl"]
        entries = [{"Id": str(i), "MessageBody": "{}"} for i in range(3)]
        if extra:
            entries = [{**e, "MessageGroupId": "g", "MessageDeduplicationId": e["Id"]}
                       for e in entries]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for volatile in ("CreatedTimestamp", "LastModifiedTimestamp"):
            attributes.pop(volatile)
        print(json.dumps(attributes, sort_keys=True))
"""


def test_the_moto_patch_leaves_queue_attributes_as_moto_computes_them():
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    env.pop("AWS_ENDPOINT_URL", None)
    outputs = [
        subprocess.run(  # noqa: S603 - our interpreter; the patch must not leak into tests
            [sys.executable, "-c", _QUEUE_ATTRIBUTES, mode],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for mode in ("stock", "patched")
    ]

    stock, patched = outputs
    assert '"FifoQueue": "true"' in stock
    assert '"ApproximateNumberOfMessages": "3"' in stock
    assert patched == stock


_BACKENDS = """
import sys
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
hosts = [None, "moto_api", "s3", "dynamodb", "sqs.us-east-1.amazonaws.com",
         "dynamodb.us-east-1.amazonaws.com", "s3.amazonaws.com", "bucket.s3.amazonaws.com",
         "secretsmanager.eu-west-1.amazonaws.com", "nothing.example.com"]
stock = DomainDispatcherApplication(create_backend_app)
expected = [stock.get_backend_for_host(h) for h in hosts]
import bench.moto_server  # noqa: F401 - the patch, as the benchmark's moto server loads it
patched = DomainDispatcherApplication(create_backend_app)
got = [patched.get_backend_for_host(h) for h in hosts * 2]  # the second pass is remembered
print(expected)
print(got[: len(hosts)] == expected and got[len(hosts) :] == expected)
print(len(patched._bench_backends))
"""


def test_the_moto_patch_finds_the_same_backend_for_every_host():
    done = subprocess.run(  # noqa: S603 - our interpreter; the patch must not leak into tests
        [sys.executable, "-c", _BACKENDS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    expected, same, remembered = done.stdout.strip().splitlines()[-3:]
    assert "'sqs'" in expected
    assert "'dynamodb'" in expected
    assert same == "True"
    assert remembered == "10"
