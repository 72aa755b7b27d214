"""Reading template.yaml: which functions exist, their handlers, and what triggers them."""

from __future__ import annotations

import importlib
import re
import sys
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


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    timeout_s: int
    routes: list[Route] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)  # logical ids of the SQS queues that trigger it
    batch_size: int = 10

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


def _route(method: str, path: str) -> Route:
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", regex)
    return Route(method.upper(), path, re.compile(f"^{regex}$"))


def load(path: Path = TEMPLATE) -> list[FunctionSpec]:
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    default_timeout = int(doc.get("Globals", {}).get("Function", {}).get("Timeout", 3))
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
        )
        for event in (props.get("Events") or {}).values():
            kind, eprops = event.get("Type"), event.get("Properties", {})
            if kind in ("HttpApi", "Api"):
                spec.routes.append(_route(eprops["Method"], eprops["Path"]))
            elif kind == "SQS":
                queue = eprops["Queue"]
                spec.queues.append(queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue))
                spec.batch_size = int(eprops.get("BatchSize", 10))
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
