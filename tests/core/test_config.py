"""Environment configuration: stage-driven defaults and one clear line per bad input."""

from __future__ import annotations

from typing import Any

import pytest

from ml_platform.core.errors import ConfigError
from ml_platform.environments import load_environments, select_environments
from tests.conftest import declared_environment


def _env(**overrides: Any) -> dict[str, Any]:
    return declared_environment("dev", **overrides)


def test_declared_environments_include_dev_and_prod():
    names = [env.name for env in load_environments()]
    assert names[:1] == ["dev"] and "prod" in names


@pytest.mark.parametrize(
    ("stage", "allow_destroy", "retention", "protected", "destroy"),
    [
        ("dev", False, 365, False, False),
        ("dev", True, 365, False, True),
        ("staging", False, 365, False, False),
        ("prod", False, 365, True, False),
    ],
)
def test_stage_drives_defaults(stage, allow_destroy, retention, protected, destroy):
    (env,) = load_environments([_env(stage=stage, allow_destroy=allow_destroy)])
    assert env.resolved_log_retention_days == retention
    assert env.resolved_termination_protection is protected
    assert env.destroy_on_delete is destroy
    assert env.is_production_like is (stage != "dev")


def test_tags_carry_the_environment_name():
    (env,) = load_environments([_env(name="qa")])
    assert env.resource_tags == {
        "project": "ml-platform",
        "environment": "qa",
        "owner": "ml-platform-team",
        "cost-center": "cc-1234",
    }


def test_select_one_environment():
    assert [e.name for e in select_environments("prod")] == ["prod"]
    assert [e.name for e in select_environments(None)] == [e.name for e in load_environments()]


BAD_INPUTS = [
    (_env(name="Dev_1"), "field 'name'", "'Dev_1'"),
    (_env(stage="qa"), "field 'stage'", "'qa'"),
    (_env(account="12345"), "field 'account'", "'12345'"),
    (_env(region="eu-west"), "field 'region'", "not an AWS region"),
    (_env(region="moon-central-1"), "field 'region'", "'moon-central-1'"),
    (_env(log_retention_days=42), "field 'log_retention_days'", "not a CloudWatch Logs retention period"),
    (_env(log_retention_days=30), "field 'log_retention_days'", "CT.CLOUDWATCH.PR.2"),
    (_env(stage="prod", allow_destroy=True), "allow_destroy is only allowed for stage 'dev'", "'prod'"),
    (_env(stage="prod", allow_destroy=False, termination_protection=False), "termination_protection", "prod"),
    (_env(tags={"owner": "x"}), "field 'tags.cost_center'", "Field required"),
    (_env(tags={"owner": "a;b", "cost_center": "c"}), "field 'tags.owner'", "'a;b'"),
    (_env(security={"alarm_emails": ["not-an-email"]}), "field 'security.alarm_emails'", "is not an e-mail"),
    (_env(security={"alarm_emails": ["a@b.io", "a@b.io"]}), "field 'security.alarm_emails'", "unique"),
    (_env(colour="blue"), "field 'colour'", "Extra inputs are not permitted"),
    (_env(allow_destroy="sometimes"), "field 'allow_destroy'", "'sometimes'"),
]


@pytest.mark.parametrize(("data", "field", "rule"), BAD_INPUTS, ids=[b[1] for b in BAD_INPUTS])
def test_bad_input_fails_with_one_clear_line(data, field, rule):
    # Given one bad field, When the environments load, Then one line names environment, field and rule
    with pytest.raises(ConfigError) as raised:
        load_environments([data])
    message = str(raised.value)
    assert len(raised.value.problems) == 1, message
    assert message.startswith(f"environment '{data['name']}'")
    assert field in message and rule in message
    assert "Traceback" not in message and "\n" not in message


def test_every_problem_of_every_environment_is_reported_at_once():
    with pytest.raises(ConfigError) as raised:
        load_environments([_env(region="x"), _env(name="prod", account="1")])
    assert len(raised.value.problems) == 2


def test_duplicate_environment_names_are_refused():
    with pytest.raises(ConfigError, match="declared more than once"):
        load_environments([_env(), _env()])


def test_unknown_environment_names_the_declared_ones():
    with pytest.raises(ConfigError, match=r"context 'env': value 'nope': unknown environment; declared .*dev"):
        select_environments("nope")


def test_config_is_frozen():
    (env,) = load_environments([_env()])
    with pytest.raises(Exception, match="frozen"):
        env.name = "other"  # type: ignore[misc]
