"""infra/docker-compose.yml: no Docker engine runs here, so its structure is checked: by
the Compose client where one is installed (``docker compose config``, or Debian's
``docker-compose config``), and always by the checks below against the rest of the
repository (the files it mounts, the settings it sets, the addresses Prometheus and
Grafana are given)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from conftest import ROOT

INFRA = ROOT / "infra"
COMPOSE = INFRA / "docker-compose.yml"
SERVICES = {"postgres", "rabbitmq", "localstack", "pushgateway", "prometheus", "grafana", "logpipe"}
# What each service listens on inside the compose network.
LISTENS = {"postgres": 5432, "rabbitmq": 15692, "localstack": 4566, "pushgateway": 9091, "prometheus": 9090,
           "grafana": 3000, "logpipe": 8080}  # fmt: skip
AWS_SDK = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # read by boto3 itself


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def known_variables() -> set[str]:
    """Every variable the settings read (config.Settings and the runner's own)."""
    text = (ROOT / "layers" / "logpipe" / "config.py").read_text()
    text += (ROOT / "local" / "logpipe_local" / "settings.py").read_text()
    return set(re.findall(r'"((?:PSQL|LOGPIPE|AWS|RABBITMQ)_[A-Z_]+)"', text))


def test_the_compose_client_accepts_it(tmp_path: Path) -> None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose", "-f", str(COMPOSE), "config", "-q"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose", "-f", str(COMPOSE), "config", "-q"]
    else:
        pytest.skip("no Compose client here (make test installs Debian's docker-compose); the checks below still run")
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_services_images_and_mounts() -> None:
    doc = compose()
    services = doc["services"]
    assert set(services) == SERVICES
    for name, svc in services.items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image's version ({image})"
        for mount in svc.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in (doc.get("volumes") or {}), f"{name}: named volume {source} is not declared"
        for dep in svc.get("depends_on", []):
            assert dep in services, f"{name} depends on {dep}, which is no service"
    assert services["localstack"]["image"] == "localstack/localstack:4.14.0"
    plugins = (INFRA / "rabbitmq" / "enabled_plugins").read_text()
    assert "rabbitmq_management" in plugins and "rabbitmq_prometheus" in plugins


def test_the_pipeline_is_pointed_at_the_services() -> None:
    svc = compose()["services"]["logpipe"]
    env = svc["environment"]
    unknown = set(env) - known_variables() - AWS_SDK
    assert not unknown, f"the logpipe service sets variables nothing reads: {unknown}"
    for key in ("AWS_ENDPOINT_URL", "LOGPIPE_PUSHGATEWAY_URL", "RABBITMQ_URL"):
        host = urlparse(env[key]).hostname
        assert host in SERVICES, (key, env[key])
    assert env["PSQL_ADDR"] in SERVICES
    assert "logpipe run" in " ".join(svc["command"]) and "--host 0.0.0.0" in " ".join(svc["command"])


def test_prometheus_and_grafana_reach_compose_services() -> None:
    config = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert len(targets) == 3
    for target in targets:
        host, port = target.split(":")
        assert LISTENS.get(host) == int(port), target
    sources = yaml.safe_load((INFRA / "grafana" / "provisioning" / "datasources" / "logpipe.yml").read_text())
    for source in sources["datasources"]:
        url = source["url"] if "://" in source["url"] else f"tcp://{source['url']}"
        parsed = urlparse(url)
        assert LISTENS.get(parsed.hostname or "") == parsed.port, source["url"]
    grafana = compose()["services"]["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
