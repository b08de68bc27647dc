"""Cometly's three streams and their records (see docs/providers/cometly.md).

Companies and contacts are exported by creation time, events by the day they happened
(one local date per export); every record carries its id and a UTC `Z` timestamp.
"""

from __future__ import annotations

from tap_exports.providers.base import (
    ID,
    OPTIONAL_ID,
    StreamSpec,
    nullable,
    object_schema,
    string_array,
    timestamp,
)

_TOUCHPOINT = object_schema(
    {
        "source": nullable("string"),
        "ad_name": nullable("string"),
        "adset_name": nullable("string"),
        "campaign_name": nullable("string"),
        "account_name": nullable("string"),
        "event_time_utc": timestamp(),
    }
)

COMPANIES = StreamSpec(
    name="companies",
    replication_key="created_at",
    primary_keys=("id",),
    schema=object_schema(
        {
            "id": ID,
            "domain": nullable("string"),
            "name": nullable("string"),
            "created_at": timestamp(required=True),
        },
        required=("id", "created_at"),
    ),
)
CONTACTS = StreamSpec(
    name="contacts",
    replication_key="created_at",
    primary_keys=("id",),
    schema=object_schema(
        {
            "id": ID,
            "email": nullable("string"),
            "name": nullable("string"),
            "phone": nullable("string"),
            "location": nullable("string"),
            "created_at": timestamp(required=True),
            "comet_tokens": string_array(),
            # The key `include_all_emails` adds is not documented for exports; `emails`
            # is what the contact endpoints call the same list.
            "emails": string_array(),
        },
        required=("id", "created_at"),
    ),
)
EVENTS = StreamSpec(
    name="events",
    replication_key="event_time_utc",
    primary_keys=("id",),
    window_days=1,  # "Maximum 1 day per export"
    splittable=False,  # a local day is the API's unit: it cannot take half of one
    schema=object_schema(
        {
            "id": ID,
            "event_time_utc": timestamp(required=True),
            "event_name": nullable("string"),
            "configured_name": nullable("string"),
            "profile_id": OPTIONAL_ID,
            "company_id": OPTIONAL_ID,
            "space_id": OPTIONAL_ID,
            "amount": nullable("number"),
            "is_upsell": nullable("boolean"),
            "order_id": OPTIONAL_ID,
            "order_name": nullable("string"),
            "event_url": nullable("string"),
            "ad_id": OPTIONAL_ID,
            "ad_name": nullable("string"),
            "adset_id": OPTIONAL_ID,
            "adset_name": nullable("string"),
            "campaign_id": OPTIONAL_ID,
            "campaign_name": nullable("string"),
            "account_id": OPTIONAL_ID,
            "account_name": nullable("string"),
            "touchpoints": {"type": ["array", "null"], "items": _TOUCHPOINT},
        },
        required=("id", "event_time_utc"),
    ),
)
