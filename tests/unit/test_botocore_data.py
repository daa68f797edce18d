"""The botocore data the build cuts to our services works exactly as botocore's own files."""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.session
import pytest
from botocore.regions import EndpointResolver

from leadlex_exporter import botocore_data, runtime

BOTOCORE_DIR = Path(botocore.__file__).parent
FULL = json.loads((BOTOCORE_DIR / "data" / "endpoints.json").read_bytes())  # never resolved on
VARIANTS = [(False, False), (True, False), (False, True), (True, True)]  # (fips, dualstack)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("package") / botocore_data.DIR_NAME
    botocore_data.write(BOTOCORE_DIR, target)
    return target


def _regions() -> list[str]:
    regions = [r for p in FULL["partitions"] for r in p["regions"]]
    return [*regions, "aws-global", "us-east-99"]  # a pseudo-region and one not yet known


def _outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    """What a resolver call returns, or the type of error it raises."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the same error is what the tests compare
        return type(exc)


def test_every_service_resolves_the_same_in_every_region_and_variant() -> None:
    full = EndpointResolver(copy.deepcopy(FULL))  # a resolver may write into its data
    trimmed = EndpointResolver(botocore_data.trim_endpoints(copy.deepcopy(FULL)))
    assert trimmed.get_available_partitions() == full.get_available_partitions()
    checked = 0
    for region in _regions():
        assert _outcome(trimmed.get_partition_for_region, region) == _outcome(
            full.get_partition_for_region, region
        )
        for service in botocore_data.ENDPOINTS:
            for fips, dualstack in VARIANTS:
                kwargs = {"use_fips_endpoint": fips, "use_dualstack_endpoint": dualstack}
                expected = _outcome(full.construct_endpoint, service, region, **kwargs)
                got = _outcome(trimmed.construct_endpoint, service, region, **kwargs)
                assert got == expected, (service, region, fips, dualstack)
                checked += 1
    assert checked > 500
    for partition in full.get_available_partitions():
        for service in botocore_data.ENDPOINTS:
            assert trimmed.get_available_endpoints(service, partition) == (
                full.get_available_endpoints(service, partition)
            )


def test_the_written_data_is_a_small_part_of_botocores(data_dir: Path) -> None:
    trimmed = botocore_data.load(botocore.__version__, data_dir)
    assert trimmed is not None
    assert trimmed.endpoints == botocore_data.trim_endpoints(FULL)
    services = {s for p in trimmed.endpoints["partitions"] for s in p["services"]}
    assert services == set(botocore_data.ENDPOINTS)
    manifest = (data_dir / "manifest.json").stat().st_size
    assert manifest < (BOTOCORE_DIR / "data" / "endpoints.json").stat().st_size / 10
    for service in botocore_data.MODELS:
        [model] = list((data_dir / service).glob("*/service-2.json"))
        [original] = list(
            (BOTOCORE_DIR / "data" / service).glob(f"{model.parent.name}/service-2.json*")
        )
        raw = original.read_bytes()
        full_model = json.loads(gzip.decompress(raw) if original.suffix == ".gz" else raw)
        assert json.loads(model.read_bytes()) == botocore_data.without_docs(full_model)
        assert model.stat().st_size < len(json.dumps(full_model)) / 2


def test_only_documentation_strings_are_emptied() -> None:
    model = {
        "documentation": "<p>text</p>",
        "shapes": {
            "S": {
                "type": "structure",
                "documentation": "about S",
                "members": {"documentation": {"shape": "T", "documentation": "a member"}},
            }
        },
        "metadata": {"documentationUrl": "https://example.com", "serviceId": "X"},
    }
    assert botocore_data.without_docs(model) == {
        "documentation": "",
        "shapes": {
            "S": {
                "type": "structure",
                "documentation": "",
                "members": {"documentation": {"shape": "T", "documentation": ""}},
            }
        },
        "metadata": {"documentationUrl": "", "serviceId": "X"},
    }


def test_another_botocore_version_or_no_data_means_botocores_own(data_dir: Path) -> None:
    assert botocore_data.load("0.0.1", data_dir) is None
    assert botocore_data.load(botocore.__version__, data_dir.parent / "missing") is None


def test_the_build_step_writes_into_the_package_and_skips_without_botocore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "leadlex_exporter").mkdir()
    assert botocore_data.main([str(tmp_path)]) == 0
    assert "no botocore" in capsys.readouterr().out
    assert not (tmp_path / "leadlex_exporter" / botocore_data.DIR_NAME).exists()
    fake = tmp_path / "botocore"
    (fake / "data").mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '9.8.7'\n")
    (fake / "data" / "endpoints.json").write_bytes(
        (BOTOCORE_DIR / "data" / "endpoints.json").read_bytes()
    )
    for service in botocore_data.MODELS:
        (fake / "data" / service).symlink_to(BOTOCORE_DIR / "data" / service)
    assert botocore_data.main([str(tmp_path)]) == 0
    written = botocore_data.load("9.8.7", tmp_path / "leadlex_exporter" / botocore_data.DIR_NAME)
    assert written is not None
    assert written.endpoints == botocore_data.trim_endpoints(FULL)
    assert botocore_data.main([]) == 2


class _Captured(Exception):
    """Stops a call once its request is built."""


_VOLATILE = {"authorization", "x-amz-date", "user-agent", "amz-sdk-invocation-id"}


def _requests(session: boto3.session.Session, service: str, region: str) -> list[Any]:
    """The requests (method, URL, headers, body) of the calls the exporter makes, as built."""
    client = session.client(
        service, region_name=region, aws_access_key_id="k", aws_secret_access_key="s"
    )
    seen: list[Any] = []

    def capture(request: Any, **_: Any) -> None:
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in _VOLATILE}
        body = request.body.read() if hasattr(request.body, "read") else request.body
        seen.append((request.method, request.url, headers, body))
        raise _Captured

    client.meta.events.register("before-send", capture)
    key = {"pk": {"S": "ws#c1"}}
    queue = f"https://sqs.{region}.amazonaws.com/123456789012/q"
    calls: dict[str, list[Any]] = {
        "s3": [
            lambda: client.put_object(Bucket="leadlex-export", Key="a/b.json.gz", Body=b"x"),
            lambda: client.get_object(Bucket="leadlex-export", Key="a/b.json.gz"),
            lambda: client.delete_object(Bucket="leadlex-export", Key="a/b.json.gz"),
        ],
        "dynamodb": [
            lambda: client.get_item(TableName="t", Key=key, ConsistentRead=True),
            lambda: client.update_item(
                TableName="t",
                Key=key,
                UpdateExpression="SET a = :a",
                ConditionExpression="attribute_not_exists(b)",
                ExpressionAttributeValues={":a": {"N": "1"}},
            ),
            lambda: client.put_item(TableName="t", Item={**key, "v": {"B": b"\x00"}}),
            lambda: client.batch_get_item(RequestItems={"t": {"Keys": [key]}}),
            lambda: client.transact_write_items(
                TransactItems=[{"Put": {"TableName": "t", "Item": key}}],
                ClientRequestToken="token-1",  # else a random one
            ),
        ],
        "sqs": [
            lambda: client.send_message_batch(
                QueueUrl=queue,
                Entries=[
                    {
                        "Id": "0",
                        "MessageBody": "{}",
                        "MessageAttributes": {"t": {"DataType": "String", "StringValue": "x"}},
                    }
                ],
            )
        ],
        "secretsmanager": [lambda: client.get_secret_value(SecretId="s")],
        "sts": [lambda: client.get_caller_identity()],
    }
    for call in calls[service]:
        with contextlib.suppress(_Captured):
            call()
    assert len(seen) == len(calls[service])
    return seen


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "us-isob-east-1"]
)
def test_clients_of_a_trimmed_session_send_the_same_requests(
    region: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    monkeypatch.setattr(botocore_data, "DATA_DIR", data_dir)
    trimmed, stock = runtime.new_session(), boto3.session.Session()
    core = trimmed._session  # noqa: SLF001
    resolver = core._get_internal_component("endpoint_resolver")  # noqa: SLF001
    assert resolver.uses_builtin_data
    assert resolver.get_service_endpoints_data("kinesis") is None  # the trimmed data is in use
    model = core.get_component("data_loader").load_service_model("s3", "service-2")
    assert model["operations"]["PutObject"]["documentation"] == ""
    for service in botocore_data.ENDPOINTS:
        assert _requests(trimmed, service, region) == _requests(stock, service, region)
