"""Reading template.yaml: which functions exist, their handlers and what triggers them, and
the bucket and queues that the runner provisions as the template declares them."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation's short-form tags (!Ref, !GetAtt...) as data."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Cors:
    """What a function's HTTP front (an HTTP API, a function URL) lets other origins do."""

    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    max_age_s: int = 0

    def allows(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins


def _cors(config: dict[str, Any] | None) -> Cors | None:
    if not config:
        return None
    return Cors(
        origins=tuple(config.get("AllowOrigins") or ()),
        methods=tuple(m.upper() for m in config.get("AllowMethods") or ()),
        headers=tuple(config.get("AllowHeaders") or ()),
        max_age_s=int(config.get("MaxAge", 0)),
    )


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout_s: int
    routes: list[Route] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)  # logical ids of the SQS queues that trigger it
    batch_size: int = 10
    schedules: list[int] = field(default_factory=list)  # seconds between runs, of each Schedule event
    # A function behind a function URL (no HTTP events): "module.attribute" of the WSGI app
    # it serves on the routes that app defines.
    wsgi_app: str | None = None
    cors: Cors | None = None  # of its HTTP API or function URL, parameters at their defaults

    @property
    def name(self) -> str:
        """The folder name, e.g. ``parse-worker``."""
        return self.code_uri.name

    def load(self) -> ModuleType:
        """Import the handler's module, as Lambda would from its folder."""
        module_name = self.handler.rsplit(".", 1)[0]
        folder = str(self.code_uri)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        return importlib.import_module(module_name)

    def handler_function(self) -> Any:
        return getattr(self.load(), self.handler.rsplit(".", 1)[1])

    def load_app(self) -> Any:
        """The WSGI app the function serves: ``app`` beside its handler, or the one its
        metadata names (a function whose handler is a start-up script)."""
        if self.wsgi_app is None:
            return self.load().app
        module_name, attribute = self.wsgi_app.rsplit(".", 1)
        folder = str(self.code_uri)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        return getattr(importlib.import_module(module_name), attribute)


def _route(method: str, path: str) -> Route:
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", regex)
    return Route(method.upper(), path, re.compile(f"^{regex}$"))


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    """Seconds between runs of an EventBridge ``rate(N unit)`` schedule (the local runner
    knows no ``cron(...)`` expressions, and says so)."""
    m = _RATE.match(expression.strip())
    if m is None:
        raise ValueError(
            f"template.yaml: the local runner reads rate(N minutes|hours|days) schedules, not {expression!r}"
        )
    return int(m.group(1)) * _UNIT_S[m.group(2).rstrip("s")]


def _document(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return doc


def load(path: Path = TEMPLATE) -> list[FunctionSpec]:
    doc = _document(path)
    default_timeout = int(doc.get("Globals", {}).get("Function", {}).get("Timeout", 3))
    parameters = doc.get("Parameters") or {}
    apis = {
        logical_id: _cors(_resolve((resource.get("Properties") or {}).get("CorsConfiguration"), parameters))
        for logical_id, resource in doc.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Serverless::HttpApi"
    }
    specs = []
    for logical_id, resource in doc.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        spec = FunctionSpec(
            logical_id=logical_id,
            code_uri=(path.parent / props["CodeUri"]).resolve(),
            handler=props["Handler"],
            timeout_s=int(props.get("Timeout", default_timeout)),
            wsgi_app=(resource.get("Metadata") or {}).get("LocalWsgiApp"),
        )
        for event in (props.get("Events") or {}).values():
            kind, eprops = event.get("Type"), event.get("Properties", {})
            if kind in ("HttpApi", "Api"):
                spec.routes.append(_route(eprops["Method"], eprops["Path"]))
                api = eprops.get("ApiId")
                if isinstance(api, dict) and api.get("Ref") in apis:
                    spec.cors = apis[api["Ref"]]
            elif kind in ("Schedule", "ScheduleV2"):
                spec.schedules.append(rate_seconds(str(eprops.get("Schedule") or eprops.get("ScheduleExpression"))))
            elif kind == "SQS":
                queue = eprops["Queue"]
                spec.queues.append(queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue))
                spec.batch_size = int(eprops.get("BatchSize", 10))
        url_cors = (props.get("FunctionUrlConfig") or {}).get("Cors")
        if url_cors:
            spec.cors = _cors(_resolve(url_cors, parameters))
        specs.append(spec)
    return specs


def find(name: str, specs: list[FunctionSpec] | None = None) -> FunctionSpec:
    """A function by folder name (``parse-worker``) or logical id (``ParseWorkerFunction``)."""
    specs = load() if specs is None else specs
    for spec in specs:
        if name in (spec.name, spec.logical_id):
            return spec
    known = ", ".join(s.name for s in specs)
    raise KeyError(f"no function {name!r} in template.yaml (there are: {known})")


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    visibility_timeout_s: int
    max_receive_count: int | None  # of its redrive policy, if it has one
    dead_letter_queue: str | None  # logical id of the redrive policy's target


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    cors_rules: list[dict[str, Any]]  # as S3's PutBucketCors takes them
    notified_queues: list[str]  # logical ids of the queues its notifications go to


# SQS's own default, for a queue that does not set it.
SQS_DEFAULT_VISIBILITY_S = 30

# CloudFormation's names of a CORS rule's keys, and S3's API names for them.
_CORS_KEYS = {
    "AllowedMethods": "AllowedMethods",
    "AllowedOrigins": "AllowedOrigins",
    "AllowedHeaders": "AllowedHeaders",
    "ExposedHeaders": "ExposeHeaders",
    "MaxAge": "MaxAgeSeconds",
    "Id": "ID",
}


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """``value`` with each ``!Ref`` to a parameter replaced by the parameter's default,
    as a deployment that sets no parameter would see it."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in parameters:
            param = parameters[value["Ref"]]
            if "Default" not in param:
                raise ValueError(f"template.yaml: parameter {value['Ref']} has no default for the local runner")
            return param["Default"]
        return {k: _resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, parameters) for v in value]
    return value


def _arn_target(value: Any) -> str:
    """The logical id that ``!GetAtt X.Arn`` (or ``!Ref X``) names."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    raise ValueError(f"template.yaml: expected !GetAtt or !Ref to a resource, got {value!r}")


def _resources(path: Path, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each resource of type ``kind``: its logical id and its properties, parameters resolved."""
    doc = _document(path)
    for logical_id, resource in doc.get("Resources", {}).items():
        if resource.get("Type") == kind:
            yield logical_id, _resolve(resource.get("Properties") or {}, doc.get("Parameters") or {})


def queues(path: Path = TEMPLATE) -> dict[str, QueueSpec]:
    """The SQS queues of the template, by logical id."""
    found = {}
    for logical_id, props in _resources(path, "AWS::SQS::Queue"):
        redrive = props.get("RedrivePolicy") or {}
        found[logical_id] = QueueSpec(
            logical_id=logical_id,
            visibility_timeout_s=int(props.get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_S)),
            max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
            dead_letter_queue=_arn_target(redrive["deadLetterTargetArn"]) if "deadLetterTargetArn" in redrive else None,
        )
    return found


def buckets(path: Path = TEMPLATE) -> dict[str, BucketSpec]:
    """The S3 buckets of the template, by logical id, with their CORS rules and notifications."""
    found = {}
    for logical_id, props in _resources(path, "AWS::S3::Bucket"):
        rules = (props.get("CorsConfiguration") or {}).get("CorsRules") or []
        notifications = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
        found[logical_id] = BucketSpec(
            logical_id=logical_id,
            cors_rules=[{_CORS_KEYS[k]: v for k, v in rule.items()} for rule in rules],
            notified_queues=[_arn_target(n["Queue"]) for n in notifications],
        )
    return found


def upload_path(path: Path = TEMPLATE) -> tuple[BucketSpec, QueueSpec, QueueSpec]:
    """The bucket whose notifications feed a queue, that queue, and its dead-letter queue:
    what the runner provisions as ``LOGPIPE_BUCKET``, ``LOGPIPE_INGEST_QUEUE`` and ``LOGPIPE_DLQ``."""
    notifying = [b for b in buckets(path).values() if b.notified_queues]
    if len(notifying) != 1 or len(notifying[0].notified_queues) != 1:
        raise ValueError("template.yaml: the local runner expects one bucket that notifies one queue")
    bucket = notifying[0]
    by_id = queues(path)
    ingest = by_id[bucket.notified_queues[0]]
    if ingest.dead_letter_queue is None or ingest.max_receive_count is None:
        raise ValueError(f"template.yaml: queue {ingest.logical_id} needs a RedrivePolicy to its dead-letter queue")
    return bucket, ingest, by_id[ingest.dead_letter_queue]
