"""singer-sdk's standard tap tests (discovery, CLI, one sync per stream, attributes), per provider.

`get_tap_test_class` builds the tap while the module is collected, so each provider's
sandbox is started at import and lives for the whole session. `parse_env_config=False`
keeps a stray TAP_EXPORTS_* variable from changing what is tested. The suite syncs
under a record limit: Userpilot's derived streams (users, companies) then get the
identify rows read before the limit stopped their source (see `derived`).
"""

from __future__ import annotations

import atexit
import contextlib
import io

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_exports.sandbox import Sandbox, SandboxConfig
from tap_exports.sdk.tap import TapExports
from tests.setups import cometly as cometly_setup
from tests.setups import cornect as cornect_setup
from tests.setups import userpilot as userpilot_setup
from tests.singer import parse_messages


def _started(config: SandboxConfig) -> Sandbox:
    sandbox = Sandbox(config).start()
    atexit.register(sandbox.stop)
    return sandbox


_COMETLY = _started(cometly_setup.sandbox_config())
_USERPILOT = _started(userpilot_setup.sandbox_config())
_CORNECT = _started(cornect_setup.sandbox_config())
_SUITE = SuiteConfig(ignore_no_records=False)
# The suite checks records against a catalog discovered by another tap instance, which
# cannot hold the fields a sync declares on the way (`undeclared_fields: evolve`, the
# default, covered in test_schema_evolution): here they are left out.
_DROP = {"undeclared_fields": "drop"}

TestCometly = get_tap_test_class(
    TapExports,
    # Every option on, so each declared field shows up in some record.
    config=cometly_setup.tap_config(
        _COMETLY,
        start_date="2025-03-01T05:00:00Z",
        end_date="2025-03-03T05:00:00Z",
        contacts_include_comet_tokens=True,
        contacts_include_all_emails=True,
        events_sources=["facebook_ads", "google_ads", "email", "direct", "ai_claude"],
        events_attribution_model="last_touch",
        events_attribution_window=30,
        **_DROP,
    ),
    parse_env_config=False,
    suite_config=_SUITE,
)

TestUserpilot = get_tap_test_class(
    TapExports,
    config=userpilot_setup.tap_config(_USERPILOT, **_DROP),
    parse_env_config=False,
    suite_config=_SUITE,
)

TestCornect = get_tap_test_class(
    TapExports,
    config=cornect_setup.tap_config(_CORNECT, search_filters={"countries": ["Germany"]}, **_DROP),
    parse_env_config=False,
    suite_config=_SUITE,
)


def test_derived_streams_deliver_what_was_read_when_a_record_limit_stops_their_source():
    tap = TapExports(config=userpilot_setup.tap_config(_USERPILOT), parse_env_config=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.run_sync_dry_run(dry_run_record_limit=1)
    messages = parse_messages(out.getvalue())
    for stream in ("users", "companies"):
        records = [m for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
        assert 0 < len(records) <= 1, stream
    # Read in part: no derived bookmark moves past rows it never saw.
    states = [m["value"]["bookmarks"] for m in messages if m["type"] == "STATE"]
    assert all("replication_key_value" not in s.get("users", {}) for s in states)
