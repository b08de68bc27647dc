"""singer-sdk's standard tap tests (discovery, CLI, one sync per stream, attributes).

`get_tap_test_class` builds the tap while the module is collected, so the sandbox is
started at import and lives for the whole session. `parse_env_config=False` keeps a
stray TAP_EXPORTS_* variable from changing what is tested.
"""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_exports.sandbox import Sandbox
from tap_exports.tap import TapExports
from tests.conftest import sandbox_config, tap_config

_SANDBOX = Sandbox(sandbox_config()).start()
atexit.register(_SANDBOX.stop)

TestTapExports = get_tap_test_class(
    TapExports,
    # Every option on, so each declared field shows up in some record.
    config=tap_config(
        _SANDBOX,
        start_date="2025-03-01T05:00:00Z",
        end_date="2025-03-03T05:00:00Z",
        contacts_include_comet_tokens=True,
        contacts_include_all_emails=True,
        events_sources=["facebook_ads", "google_ads", "email", "direct", "ai_claude"],
        events_attribution_model="last_touch",
        events_attribution_window=30,
    ),
    parse_env_config=False,
    suite_config=SuiteConfig(ignore_no_records=False),
)
