"""No container engine runs here: parse the Dockerfile and compose file and check their promises."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_dockerfile_builds_assets_then_a_slim_python_image(dockerfile: str) -> None:
    stages = re.findall(r"^FROM (\S+) AS (\w+)", dockerfile, flags=re.MULTILINE)
    assert [name for _, name in stages] == ["assets", "runtime"]
    assert stages[0][0].startswith("node:")
    assert stages[1][0].startswith("python:3.11-slim")
    assert "COPY --from=assets /build/static/vendor ./static/vendor" in dockerfile
    assert "npm ci" in dockerfile


def test_dockerfile_runs_as_non_root_with_a_liveness_healthcheck(dockerfile: str) -> None:
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert re.search(r"^USER (?!root)\w+", runtime, flags=re.MULTILINE)
    healthcheck = re.search(r"^HEALTHCHECK .*?\n(.*?)$", runtime, flags=re.MULTILINE | re.DOTALL)
    assert healthcheck is not None and "/livez" in healthcheck.group(0)
    assert "EXPOSE 8000" in runtime


def test_compose_runs_two_console_replicas_after_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"console", "console-db", "main-db", "migrate"} <= set(services)
    console = services["console"]
    assert console["deploy"]["replicas"] == 2
    assert console["depends_on"]["console-db"]["condition"] == "service_healthy"
    assert console["depends_on"]["main-db"]["condition"] == "service_healthy"
    assert console["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["prism", "db", "upgrade"]
    assert console["environment"]["PRISM_AUTO_MIGRATE"] == "false"


def test_compose_wires_both_databases_and_shared_secrets(compose: dict[str, Any]) -> None:
    env = compose["services"]["console"]["environment"]
    # Requests through PgBouncer; what needs a session (LISTEN, locks, pg_dump) direct.
    assert env["PRISM_API_DB_URL"].startswith("postgresql://prism:")
    assert "@pgbouncer:6432/prism" in env["PRISM_API_DB_URL"]
    assert env["PRISM_API_DB_LISTEN_URL"].startswith("postgresql://prism:")
    assert "@console-db:5432/prism" in env["PRISM_API_DB_LISTEN_URL"]
    assert env["PRISM_MAIN_DB_URL"].startswith("postgresql://prism_reader:")
    assert "@main-db:5432/main" in env["PRISM_MAIN_DB_URL"]
    # Replicas must share the session secret; secrets are required, never defaulted.
    for name in ("PRISM_SECRET_KEY", "PRISM_ADMIN_TOKEN"):
        assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", env[name]), name


def test_compose_health_checks_every_long_running_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("console", "console-db", "main-db"):
        assert "healthcheck" in services[name], name
    assert "/readyz" in " ".join(services["console"]["healthcheck"]["test"])
    assert "8000:8000" in " ".join(services["console"]["ports"]) or any(
        port.endswith(":8000") for port in services["console"]["ports"]
    )


def test_main_db_init_creates_the_select_only_role(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["main-db"]["volumes"]
    init = next(v for v in volumes if "docker-entrypoint-initdb.d" in v)
    folder = ROOT / init.split(":")[0]
    scripts = sorted(folder.glob("*.sql")) + sorted(folder.glob("*.sh"))
    assert scripts, f"no init script in {folder}"
    text = "\n".join(script.read_text() for script in scripts).lower()
    assert "prism_reader" in text
    assert "grant select" in text
    assert not re.search(r"grant (insert|update|delete|all)", text)


def test_the_image_vendors_every_file_make_assets_vendors(dockerfile: str) -> None:
    makefile = (ROOT / "Makefile").read_text()
    vendored = set(re.findall(r"node_modules/\S+\.(?:js|css)", makefile))
    assert vendored, "the Makefile's assets recipe copies nothing from node_modules"
    assert vendored <= set(re.findall(r"node_modules/\S+\.(?:js|css)", dockerfile))


def test_compose_puts_pgbouncer_in_transaction_mode_before_the_console_db(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    bouncer = services["pgbouncer"]
    assert bouncer["build"] == "./deploy/pgbouncer"
    assert bouncer["depends_on"]["console-db"]["condition"] == "service_healthy"
    assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", bouncer["environment"]["PRISM_DB_PASSWORD"])
    ini = (ROOT / "deploy/pgbouncer/pgbouncer.ini").read_text()
    assert re.search(r"^pool_mode = transaction$", ini, flags=re.MULTILINE)
    assert re.search(r"^prism = host=console-db port=5432 dbname=prism$", ini, flags=re.MULTILINE)
    assert re.search(r"^listen_port = 6432$", ini, flags=re.MULTILINE)
    # The password is written at start from the environment, never into the image.
    assert "PRISM_DB_PASSWORD" in (ROOT / "deploy/pgbouncer/entrypoint.sh").read_text()


def test_compose_keeps_scheduled_backups_on_a_volume(compose: dict[str, Any]) -> None:
    console = compose["services"]["console"]
    backup_dir = console["environment"]["PRISM_BACKUP_DIR"]
    assert f"backups:{backup_dir}" in console["volumes"]
    assert "backups" in compose["volumes"]
    # The image's service user owns the mount point, so the volume starts writable.
    assert f"install -d -o prism -g prism {backup_dir}" in (ROOT / "Dockerfile").read_text()
