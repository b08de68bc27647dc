"""`make demo`'s providers come from the sandbox registry, and their settings start the tap."""

from __future__ import annotations

from tap_exports.providers import PROVIDERS
from tap_exports.sandbox.demo import demo_providers, ports_used
from tap_exports.sandbox.registry import SANDBOXES
from tap_exports.settings import parse_settings


def test_every_provider_takes_part_with_two_ports_of_its_own():
    providers = demo_providers()
    assert [p.name for p in providers] == sorted(PROVIDERS) == sorted(SANDBOXES)
    ports = [port for p in providers for port in (p.offset, p.offset + 1)]
    assert ports == list(range(ports_used()))


def test_each_demo_config_is_one_its_provider_accepts():
    for provider in demo_providers():
        config = provider.tap_config() | {"provider": provider.name}
        assert "${" + provider.port_variable + "}" in config["api_url"]
        config["api_url"] = config["api_url"].replace("${" + provider.port_variable + "}", "8765")
        settings = parse_settings(config)
        assert settings.provider.name == provider.name


def test_the_sandbox_command_serves_the_provider_on_its_ports_with_one_second_periods():
    provider = demo_providers()[-1]
    command = provider.sandbox_command("python", 9000)
    port = 9000 + provider.offset
    assert command[:5] == ["python", "-m", "tap_exports.sandbox", "--provider", provider.name]
    assert command[5:9] == ["--port", str(port), "--download-port", str(port + 1)]
    assert "--rate-period" in command and command[command.index("--rate-period") + 1] == "1"
