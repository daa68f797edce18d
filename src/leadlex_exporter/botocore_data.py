"""botocore's data files cut to what the exporter calls: less memory in every session.

botocore parses its whole `endpoints.json` (1.2 MB: every service in every partition) on the
first client, about 7 MB of dicts; and each service model with its documentation, which is
most of it (S3's model: 1.4 MB of JSON, 250 KB without the documentation). Both stay for the
life of the session. `sam build` (src/Makefile) runs this module on the package it builds and
writes `leadlex_exporter/botocore_data/`, from the botocore it ships:
- `manifest.json`: that botocore's version, and its endpoint data with every partition's
  regions, defaults and DNS suffixes but only the services in ENDPOINTS;
- `<service>/<api version>/service-2.json` for MODELS: botocore's model of the same version
  with its documentation strings emptied (only docstrings and generated docs read them).

`load()` returns them only for the same botocore version; with any other version, or without
the directory (a source checkout), botocore's own files are used (see handler.new_session).
Only stdlib here: the build runs it without boto3.
"""

from __future__ import annotations

import gzip
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Endpoint prefixes (the keys of endpoints.json) of every service a client is made for.
ENDPOINTS = ("dynamodb", "s3", "sqs", "secretsmanager", "sts")
# Service models the exporter loads (its clients: Secrets Manager, DynamoDB, S3, SQS).
MODELS = ("dynamodb", "s3", "sqs", "secretsmanager")
DIR_NAME = "botocore_data"
DATA_DIR = Path(__file__).with_name(DIR_NAME)
_DOC_KEYS = ("documentation", "documentationUrl")


@dataclass(frozen=True)
class Trimmed:
    endpoints: dict[str, Any]
    data_path: Path  # a botocore data path holding the trimmed service models


def trim_endpoints(
    endpoints: dict[str, Any], services: tuple[str, ...] = ENDPOINTS
) -> dict[str, Any]:
    """The same document with each partition's `services` cut to `services`."""
    partitions = []
    for partition in endpoints["partitions"]:
        kept = {k: v for k, v in partition["services"].items() if k in services}
        partitions.append({**partition, "services": kept})
    return {**endpoints, "partitions": partitions}


def without_docs(value: Any) -> Any:
    """A model whose documentation strings are empty. The keys stay, since botocore reads
    some (clientContextParams); a member *named* documentation is a dict and stays whole."""
    if isinstance(value, dict):
        return {
            k: "" if k in _DOC_KEYS and isinstance(v, str) else without_docs(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_docs(v) for v in value]
    return value


def load(botocore_version: str, data_dir: Path | None = None) -> Trimmed | None:
    """The trimmed data for this botocore version, or None (use botocore's own)."""
    directory = data_dir or DATA_DIR
    try:
        manifest = json.loads((directory / "manifest.json").read_bytes())
    except FileNotFoundError:
        return None
    if manifest.get("botocore_version") != botocore_version:
        return None
    return Trimmed(endpoints=manifest["endpoints"], data_path=directory)


def write(botocore_dir: Path, target: Path) -> dict[str, int]:
    """Write the trimmed data of the botocore package at `botocore_dir` into the directory
    `target`; the bytes written per file, by path relative to `target`."""
    data = botocore_dir / "data"
    written: dict[str, int] = {}
    for service in MODELS:
        version = max(d.name for d in (data / service).iterdir() if _model_file(d) is not None)
        source = _model_file(data / service / version)
        assert source is not None  # noqa: S101 - chosen above for having one
        raw = (
            gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
        )
        relative = f"{service}/{version}/service-2.json"
        written[relative] = _dump(without_docs(json.loads(raw)), target / relative)
    endpoints = json.loads((data / "endpoints.json").read_bytes())
    manifest = {
        "botocore_version": _version_of(botocore_dir),
        "endpoints": trim_endpoints(endpoints),
    }
    written["manifest.json"] = _dump(manifest, target / "manifest.json")
    return written


def _model_file(version_dir: Path) -> Path | None:
    for name in ("service-2.json", "service-2.json.gz"):
        if (version_dir / name).is_file():
            return version_dir / name
    return None


def _dump(value: Any, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, separators=(",", ":"))
    path.write_text(text, encoding="utf-8")
    return len(text)


def _version_of(botocore_dir: Path) -> str:
    for line in (botocore_dir / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise ValueError(f"no __version__ in {botocore_dir / '__init__.py'}")


def main(argv: list[str]) -> int:
    """`python -m leadlex_exporter.botocore_data PACKAGE_DIR`: trim the botocore shipped in
    PACKAGE_DIR into PACKAGE_DIR/leadlex_exporter/botocore_data. Without a botocore there,
    nothing is written and botocore's own data is used at run time."""
    if len(argv) != 1:
        print("usage: python -m leadlex_exporter.botocore_data PACKAGE_DIR", file=sys.stderr)
        return 2
    package = Path(argv[0])
    botocore_dir = package / "botocore"
    if not (botocore_dir / "data" / "endpoints.json").is_file():
        print(f"no botocore in {package}: its data files are used as shipped")
        return 0
    written = write(botocore_dir, package / "leadlex_exporter" / DIR_NAME)
    print(", ".join(f"{path} {size:,} bytes" for path, size in written.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
