"""simple-salesforce, an independent client written for Salesforce, against Tandem's Salesforce fake.

Run by crates/tandem-testkit/tests/independent_clients.rs with the fake's URL in the environment:

    TANDEM_SF_URL            http://127.0.0.1:PORT (the fake)
    TANDEM_SF_CONSUMER_KEY   the connected app's consumer key (JWT `iss`)
    TANDEM_SF_USERNAME       the user to log in as (JWT `sub`)
    TANDEM_SF_KEY_FILE       the test RSA key whose certificate the fake trusts
    TANDEM_SF_PAGE_SIZE      the fake's query page size (small, so queries page)

The only shim: simple-salesforce builds every URL as `https://{host}` (login.salesforce.com for the
token, then the instance from the token answer), and the fake speaks plain http on loopback. A
requests transport adapter mounted on the library's own session sends those requests to the fake
over http instead; it refuses any other host, so nothing leaves the machine. Everything else is the
library's ordinary code: its JWT bearer login, URL building (trailing slashes included), paging and
error mapping.

Exits non-zero on the first mismatch; prints a one-line summary on success.
"""

import datetime
import os
import sys
import urllib.parse

import requests
from requests.adapters import HTTPAdapter

from importlib.metadata import version

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

FAKE = os.environ["TANDEM_SF_URL"].rstrip("/")
FAKE_HOST = urllib.parse.urlsplit(FAKE).netloc
API_VERSION = "62.0"
PAGE_SIZE = int(os.environ.get("TANDEM_SF_PAGE_SIZE", "3"))


class LoopbackAdapter(HTTPAdapter):
    """Sends the library's https requests to the loopback fake over plain http."""

    def send(self, request, *args, **kwargs):
        parts = urllib.parse.urlsplit(request.url)
        if parts.netloc not in ("login.salesforce.com", FAKE_HOST):
            raise RuntimeError(f"refusing to leave loopback: {request.url}")
        request.url = urllib.parse.urlunsplit(("http", FAKE_HOST) + tuple(parts[2:]))
        return super().send(request, *args, **kwargs)


checks = []


def check(label, cond, detail=""):
    if not cond:
        print(f"FAIL {label}: {detail}", file=sys.stderr)
        sys.exit(1)
    checks.append(label)


def expect_error(label, exc_type, fn, code=None):
    try:
        fn()
    except exc_type as e:
        if code is not None:
            codes = [item.get("errorCode") for item in (e.content or []) if isinstance(item, dict)]
            check(label, code in codes, f"{exc_type.__name__} without {code}: {e.content!r}")
        else:
            checks.append(label)
        return e
    except Exception as e:  # noqa: BLE001 - any other exception is the mismatch being reported
        check(label, False, f"expected {exc_type.__name__}, got {type(e).__name__}: {e}")
    check(label, False, f"expected {exc_type.__name__}, got no error")


session = requests.Session()
session.trust_env = False
adapter = LoopbackAdapter()
session.mount("https://", adapter)
session.mount("http://", adapter)

# The library's JWT bearer login, with its default domain (`login`): the assertion's audience is
# https://login.salesforce.com and the token comes from .../services/oauth2/token.
sf = Salesforce(
    username=os.environ["TANDEM_SF_USERNAME"],
    consumer_key=os.environ["TANDEM_SF_CONSUMER_KEY"],
    privatekey_file=os.environ["TANDEM_SF_KEY_FILE"],
    version=API_VERSION,
    session=session,
)
check("login", sf.session_id and sf.sf_instance == FAKE_HOST, f"{sf.sf_instance!r}")

# Versions (outside any org) and discovery.
versions = sf._call_salesforce("GET", f"https://{sf.sf_instance}/services/data/").json()
check("versions", any(v["version"] == API_VERSION for v in versions), versions[-3:])
check("versions urls", all(v["url"] == f"/services/data/v{v['version']}" for v in versions), versions[:2])
directory = sf.restful("")
check("resource directory", directory.get("sobjects") == f"/services/data/v{API_VERSION}/sobjects", directory)
limits = sf.limits()
check("limits", limits["DailyApiRequests"]["Max"] > 0, limits.get("DailyApiRequests"))
check("api usage parsed", sf.api_usage.get("api-usage") is not None, sf.api_usage)
glob = sf.describe()
check("describeGlobal", "Contact" in {o["name"] for o in glob["sobjects"]}, list(glob)[:5])
meta = sf.Contact.metadata()
check("basic info", meta["objectDescribe"]["name"] == "Contact", meta.get("objectDescribe", {}).get("name"))
describe = sf.Contact.describe()
fields = {f["name"]: f for f in describe["fields"]}
check("describe", describe["name"] == "Contact" and "LastName" in fields, describe.get("name"))
check("describe external id", fields.get("Tandem_Sync_Id__c", {}).get("externalId") is True, fields.get("Tandem_Sync_Id__c"))

# Create, read, update, delete one contact (the library uses `sobjects/Contact/` and `.../{id}`).
created = sf.Contact.create({"FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.com"})
check("create", created.get("success") is True and created.get("id", "").startswith("003"), created)
cid = created["id"]
got = sf.Contact.get(cid)
check("get", got["LastName"] == "Hopper" and got["Email"] == "grace@example.com", got)
check("get attributes", got["attributes"]["url"] == f"/services/data/v{API_VERSION}/sobjects/Contact/{cid}", got["attributes"])
status = sf.Contact.update(cid, {"Title": "Rear Admiral"})
check("update", status == 204, status)
check("updated", sf.Contact.get(cid)["Title"] == "Rear Admiral")
status = sf.Contact.delete(cid)
check("delete", status == 204, status)
expect_error("get deleted -> SalesforceResourceNotFound", SalesforceResourceNotFound, lambda: sf.Contact.get(cid), "NOT_FOUND")
expect_error(
    "get unknown -> SalesforceResourceNotFound",
    SalesforceResourceNotFound,
    lambda: sf.Contact.get("003000000000000AAA"),
    "NOT_FOUND",
)

# query and query_all with paging (`nextRecordsUrl` followed by the library).
names = [f"Pager{i:02}" for i in range(PAGE_SIZE * 2 + 2)]
ids = [sf.Contact.create({"LastName": n, "Region__c": "paging"})["id"] for n in names]
soql = "SELECT Id, LastName FROM Contact WHERE Region__c = 'paging' ORDER BY LastName"
first = sf.query(soql)
check("query first page", first["done"] is False and len(first["records"]) == PAGE_SIZE, {k: first[k] for k in ("done", "totalSize")})
check("query totalSize", first["totalSize"] == len(names), first["totalSize"])
more = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
check("query_more", [r["LastName"] for r in more["records"]] == names[PAGE_SIZE : PAGE_SIZE * 2], more["records"])
locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
by_id = sf.query_more(locator, identifier_is_url=False)
check("query_more by locator", [r["Id"] for r in by_id["records"]] == [r["Id"] for r in more["records"]])
everything = sf.query_all(soql)
check("query_all", [r["LastName"] for r in everything["records"]] == names and everything["done"], everything["totalSize"])
streamed = [r["LastName"] for r in sf.query_all_iter(soql)]
check("query_all_iter", streamed == names, streamed)
sf.Contact.delete(ids[0])
live = sf.query_all(soql)
check("query after delete", len(live["records"]) == len(names) - 1, live["totalSize"])
with_deleted = sf.query_all(
    "SELECT Id, LastName, IsDeleted FROM Contact WHERE Region__c = 'paging' ORDER BY LastName", include_deleted=True
)
deleted_rows = [r for r in with_deleted["records"] if r["IsDeleted"]]
check("queryAll includes deleted", [r["Id"] for r in deleted_rows] == [ids[0]], deleted_rows)
count = sf.query("SELECT COUNT() FROM Contact WHERE Region__c = 'paging'")
check("count()", count["totalSize"] == len(names) - 1 and count["records"] == [], count)

# Upsert by external id: created (201), then updated (204) through `sobjects/Contact/Field/value`.
key = "Tandem_Sync_Id__c/independent-client-upsert"
status = sf.Contact.upsert(key, {"LastName": "Upserted", "Email": "upsert@example.com"})
check("upsert creates", status == 201, status)
status = sf.Contact.upsert(key, {"LastName": "Upserted-Again"})
# API v46.0+ answers an upsert that updates with 200 and a body (204 before), as documented.
check("upsert updates", status == 200, status)
by_key = sf.Contact.get_by_custom_id("Tandem_Sync_Id__c", "independent-client-upsert")
check("get_by_custom_id", by_key["LastName"] == "Upserted-Again" and by_key["Email"] == "upsert@example.com", by_key)

# sObject collections (composite/sobjects) through the library's generic `restful`.
records = [{"attributes": {"type": "Contact"}, "LastName": f"Batch{i}", "Region__c": "collections"} for i in range(3)]
results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
check("collections create", len(results) == 3 and all(r["success"] for r in results), results)
batch_ids = [r["id"] for r in results]
bad = records[:1] + [{"attributes": {"type": "Contact"}, "FirstName": "NoLastName"}]
results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": bad})
check(
    "collections allOrNone",
    [r["success"] for r in results] == [False, False]
    and any(e["statusCode"] == "REQUIRED_FIELD_MISSING" for r in results for e in r["errors"]),
    results,
)
results = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(batch_ids), "allOrNone": "true"})
check("collections delete", [r["id"] for r in results] == batch_ids and all(r["success"] for r in results), results)
# Collections take records of several types: a Contact and an Event updated in one request,
# then deleted in one (how Tandem sends a user's contacts and events together).
mixed_contact = sf.Contact.create({"LastName": "Mixed"})["id"]
mixed_event = sf.Event.create(
    {"Subject": "Mixed", "StartDateTime": "2031-03-04T09:00:00.000+0000", "DurationInMinutes": 30}
)["id"]
results = sf.restful(
    "composite/sobjects",
    method="PATCH",
    json={
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, "id": mixed_contact, "Title": "Mixed title"},
            {"attributes": {"type": "Event"}, "id": mixed_event, "Location": "Mixed room"},
        ],
    },
)
check(
    "collections update, two types",
    [r["id"] for r in results] == [mixed_contact, mixed_event] and all(r["success"] for r in results),
    results,
)
check("two types updated", sf.Contact.get(mixed_contact)["Title"] == "Mixed title", mixed_contact)
check("two types updated (event)", sf.Event.get(mixed_event)["Location"] == "Mixed room", mixed_event)
results = sf.restful(
    "composite/sobjects", method="DELETE", params={"ids": f"{mixed_contact},{mixed_event}", "allOrNone": "false"}
)
check("collections delete, two types", all(r["success"] for r in results) and len(results) == 2, results)

# getUpdated / getDeleted.
now = datetime.datetime.now(datetime.timezone.utc)
deleted = sf.Contact.deleted(now - datetime.timedelta(hours=1), now + datetime.timedelta(minutes=1))
check("getDeleted", ids[0] in {d["id"] for d in deleted["deletedRecords"]}, deleted)
updated = sf.Contact.updated(now - datetime.timedelta(hours=1), now + datetime.timedelta(minutes=1))
check("getUpdated", set(ids[1:]) <= set(updated["ids"]), updated)

# Errors: the library's exception for each documented answer.
expect_error(
    "bad SOQL -> SalesforceMalformedRequest",
    SalesforceMalformedRequest,
    lambda: sf.query("SELEC Id FROM Contact"),
    "MALFORMED_QUERY",
)
expect_error(
    "unknown field -> SalesforceMalformedRequest",
    SalesforceMalformedRequest,
    lambda: sf.query("SELECT Nope__c FROM Contact"),
    "INVALID_FIELD",
)
expect_error(
    "missing required field -> SalesforceMalformedRequest",
    SalesforceMalformedRequest,
    lambda: sf.Contact.create({"FirstName": "Only"}),
    "REQUIRED_FIELD_MISSING",
)
expect_error(
    "unknown object -> SalesforceResourceNotFound",
    SalesforceResourceNotFound,
    lambda: sf.Nope__c.describe(),
    "NOT_FOUND",
)
sf.Contact.create({"LastName": "Dup", "Tandem_Sync_Id__c": "dup-key"})
expect_error(
    "duplicate external id on create",
    SalesforceMalformedRequest,
    lambda: sf.Contact.create({"LastName": "Dup2", "Tandem_Sync_Id__c": "dup-key"}),
    "DUPLICATE_VALUE",
)

print(f"simple-salesforce {version('simple-salesforce')}: {len(checks)} checks passed against {FAKE} (API v{API_VERSION})")
