"""msgraph-core, Microsoft's own Python core library for Microsoft Graph, against Tandem's Graph fake.

Run by crates/tandem-testkit/tests/independent_clients.rs with the fake in the environment:

    TANDEM_GRAPH_URL            http://127.0.0.1:PORT (the fake: token endpoint and /v1.0)
    TANDEM_GRAPH_TENANT         the tenant in the token endpoint's path
    TANDEM_GRAPH_CLIENT_ID      the app registration
    TANDEM_GRAPH_CLIENT_SECRET  its client secret
    TANDEM_GRAPH_MAILBOX        the mailbox to work in

The Graph calls go through the httpx client that `GraphClientFactory.create_with_default_middleware`
builds: the SDK's middleware pipeline (retry with Retry-After, redirects, URL and parameter
handling, the SdkVersion telemetry header). The only change from real use is the factory's `host`
argument: the fake's http://127.0.0.1:PORT instead of https://graph.microsoft.com (the factory takes
any host; no attribute is rewritten). The token comes from the fake's v2.0 token endpoint by the
client credentials grant as the identity platform documents it (a plain form POST: msal insists on
https authorities and on OpenID discovery, which the fake does not serve). `@odata.nextLink` and
`@odata.deltaLink` are followed exactly as given.

Exits non-zero on the first mismatch; prints a one-line summary on success.
"""

import asyncio
import datetime
import os
import sys
from importlib.metadata import version

import httpx
from msgraph_core import APIVersion, GraphClientFactory

FAKE = os.environ["TANDEM_GRAPH_URL"].rstrip("/")
TENANT = os.environ["TANDEM_GRAPH_TENANT"]
MAILBOX = os.environ["TANDEM_GRAPH_MAILBOX"]
USER = f"/users/{MAILBOX}"

checks = []


def check(label, cond, detail=""):
    if not cond:
        print(f"FAIL {label}: {str(detail)[:2000]}", file=sys.stderr)
        sys.exit(1)
    checks.append(label)


async def token():
    async with httpx.AsyncClient(trust_env=False) as plain:
        r = await plain.post(
            f"{FAKE}/{TENANT}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": os.environ["TANDEM_GRAPH_CLIENT_ID"],
                "client_secret": os.environ["TANDEM_GRAPH_CLIENT_SECRET"],
                "scope": "https://graph.microsoft.com/.default",
            },
        )
    body = r.json()
    check("token", r.status_code == 200 and body.get("token_type") == "Bearer" and body.get("access_token"), body)
    check("token expires_in", isinstance(body.get("expires_in"), int) and body["expires_in"] > 0, body)
    return body["access_token"]


async def main():
    access_token = await token()
    client = GraphClientFactory.create_with_default_middleware(api_version=APIVersion.v1, host=FAKE)
    check("base url", str(client.base_url).rstrip("/") == f"{FAKE}/v1.0", client.base_url)
    client.headers["Authorization"] = f"Bearer {access_token}"
    # Ids stay the same across folders and answers only in their immutable form; ask for it always.
    immutable = 'IdType="ImmutableId"'
    client.headers["Prefer"] = immutable

    async def call(method, url, expect=200, **kw):
        r = await client.request(method, url, **kw)
        if r.status_code != expect:
            check(f"{method} {url}", False, f"{r.status_code} (wanted {expect}): {r.text}")
        check("request-id header", r.headers.get("request-id"), dict(r.headers))
        return r.json() if r.content else None

    async def follow(url, **kw):
        """All pages of a collection, following @odata.nextLink as given; (rows, pages, last page)."""
        rows, pages = [], 0
        while True:
            page = await call("GET", url, **kw)
            pages += 1
            rows += page["value"]
            if "@odata.nextLink" not in page:
                return rows, pages, page
            url = page["@odata.nextLink"]
            check("nextLink is absolute", url.startswith(f"{FAKE}/v1.0/"), url)
            kw = {"headers": kw.get("headers")}

    me = await call("GET", USER, params={"$select": "displayName,mail"})
    check("user", me.get("mail") == MAILBOX or me.get("userPrincipalName") == MAILBOX, me)

    # A contact folder and contacts in it.
    folder = await call("POST", f"{USER}/contactFolders", 201, json={"displayName": "Independent client"})
    fid = folder["id"]
    contacts_url = f"{USER}/contactFolders/{fid}/contacts"
    names = [f"Person{i:02}" for i in range(7)]
    ids = []
    for n in names:
        c = await call(
            "POST",
            contacts_url,
            201,
            json={
                "givenName": n,
                "surname": "Client",
                "emailAddresses": [{"address": f"{n.lower()}@example.com", "name": n}],
                "companyName": "Contoso",
            },
        )
        check("create contact", c["givenName"] == n and c["parentFolderId"] == fid and c.get("@odata.etag"), c)
        ids.append(c["id"])

    # Paging through @odata.nextLink ($top=3), ordered, and $select.
    rows, pages, _ = await follow(f"{contacts_url}", params={"$top": "3", "$orderby": "givenName"})
    check("paging rows", [r["givenName"] for r in rows] == names, [r.get("givenName") for r in rows])
    check("paging pages", pages == 3, pages)
    selected = await call("GET", contacts_url, params={"$select": "givenName,emailAddresses", "$top": "2"})
    keys = set().union(*(r.keys() for r in selected["value"]))
    check("$select", keys <= {"id", "@odata.etag", "givenName", "emailAddresses"} and "givenName" in keys, keys)
    check("$select context", "@odata.context" in selected, selected)
    filtered = await call("GET", contacts_url, params={"$filter": "givenName eq 'Person03'"})
    check("$filter", [r["id"] for r in filtered["value"]] == [ids[3]], filtered)
    counted = await call("GET", contacts_url, params={"$count": "true", "$top": "1"})
    check("$count", counted.get("@odata.count") == len(names), counted.get("@odata.count"))

    # Delta: first round to the deltaLink, then one update and one delete.
    rows, _, last = await follow(f"{contacts_url}/delta", params={"$select": "givenName,surname"}, headers={"Prefer": f"odata.maxpagesize=3, {immutable}"})
    check("delta initial", sorted(r["id"] for r in rows) == sorted(ids), len(rows))
    delta_link = last.get("@odata.deltaLink")
    check("deltaLink", delta_link and delta_link.startswith(f"{FAKE}/v1.0/"), last)

    # Update and delete.
    updated = await call("PATCH", f"{contacts_url}/{ids[0]}", json={"jobTitle": "Engineer", "givenName": "Kept"})
    check("update", updated["jobTitle"] == "Engineer" and updated["givenName"] == "Kept", updated)
    got = await call("GET", f"{contacts_url}/{ids[0]}", params={"$select": "jobTitle"})
    check("get after update", got["jobTitle"] == "Engineer", got)
    await call("DELETE", f"{contacts_url}/{ids[1]}", 204)

    changes, _, last = await follow(delta_link)
    removed = [r["id"] for r in changes if "@removed" in r]
    changed = [r for r in changes if "@removed" not in r]
    check("delta removed", removed == [ids[1]], changes)
    check("delta changed", [r["id"] for r in changed] == [ids[0]] and changed[0]["givenName"] == "Kept", changes)
    check("second deltaLink", "@odata.deltaLink" in last, last)

    # An event and the calendar view around it.
    start = datetime.datetime(2031, 3, 4, 9, 0)
    event = await call(
        "POST",
        f"{USER}/events",
        201,
        json={
            "subject": "Independent client review",
            "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": (start + datetime.timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
            "attendees": [{"emailAddress": {"address": "bob@example.com", "name": "Bob"}, "type": "required"}],
            "body": {"contentType": "text", "content": "Agenda"},
        },
    )
    check("create event", event["subject"] == "Independent client review" and event["type"] == "singleInstance", event)
    window = {"startDateTime": "2031-03-01T00:00:00Z", "endDateTime": "2031-03-08T00:00:00Z"}
    view, _, _ = await follow(f"{USER}/calendarView", params=window)
    check("calendarView", [e["id"] for e in view] == [event["id"]], view)
    check("calendarView start", view[0]["start"]["dateTime"].startswith("2031-03-04T09:00:00"), view[0]["start"])
    pacific = await call("GET", f"{USER}/events/{event['id']}", headers={"Prefer": f'outlook.timezone="Pacific Standard Time", {immutable}'})
    check("outlook.timezone", pacific["start"]["timeZone"] == "Pacific Standard Time", pacific["start"])

    # JSON batching: reads, a create and a dependent read, answered per item.
    batch = {
        "requests": [
            {"id": "1", "method": "GET", "url": f"{USER}/contactFolders/{fid}/contacts/{ids[2]}?$select=givenName"},
            {
                "id": "2",
                "method": "POST",
                "url": f"{USER}/contactFolders/{fid}/contacts",
                "headers": {"Content-Type": "application/json"},
                "body": {"givenName": "Batched", "surname": "Client"},
            },
            {"id": "3", "method": "GET", "url": f"{USER}/contacts/does-not-exist", "dependsOn": ["2"]},
            {
                "id": "4",
                "method": "GET",
                "url": f"{USER}/calendarView?startDateTime=2031-03-01T00:00:00Z&endDateTime=2031-03-08T00:00:00Z",
                # Items carry their own headers: the batch's Prefer does not reach them.
                "headers": {"Prefer": immutable},
            },
        ]
    }
    answer = await call("POST", "/$batch", json=batch)
    by_id = {r["id"]: r for r in answer["responses"]}
    check("batch ids", sorted(by_id) == ["1", "2", "3", "4"], answer)
    check("batch read", by_id["1"]["status"] == 200 and by_id["1"]["body"]["givenName"] == "Person02", by_id["1"])
    check("batch create", by_id["2"]["status"] == 201 and by_id["2"]["body"]["givenName"] == "Batched", by_id["2"])
    check("batch item error", by_id["3"]["status"] == 404 and by_id["3"]["body"]["error"]["code"], by_id["3"])
    check("batch view", [e["id"] for e in by_id["4"]["body"]["value"]] == [event["id"]], by_id["4"])
    await call("DELETE", f"{USER}/contactFolders/{fid}/contacts/{by_id['2']['body']['id']}", 204)

    # Delta queries as batch items: a mailbox's contact and calendar deltas in one batch (how
    # Tandem reads both objects of a mailbox in one request), each answered as its own GET.
    window = "startDateTime=2031-03-01T00:00:00Z&endDateTime=2031-03-08T00:00:00Z"
    batch = {
        "requests": [
            {"id": "c", "method": "GET", "url": f"{USER}/contactFolders/{fid}/contacts/delta", "headers": {"Prefer": immutable}},
            {"id": "e", "method": "GET", "url": f"{USER}/calendarView/delta?{window}", "headers": {"Prefer": immutable}},
        ]
    }
    answer = await call("POST", "/$batch", json=batch)
    by_id = {r["id"]: r for r in answer["responses"]}
    for item in ("c", "e"):
        body = by_id[item]["body"]
        link = body.get("@odata.deltaLink") or body.get("@odata.nextLink") or ""
        check(f"batch delta {item}", by_id[item]["status"] == 200 and isinstance(body.get("value"), list), by_id[item])
        check(f"batch delta {item} link", link.startswith(f"{FAKE}/v1.0/") and "delta" in link, body)
    seen = [r["id"] for r in by_id["c"]["body"]["value"]]
    check("batch delta contacts rows", set(seen) <= set(ids) and seen, seen)

    # Errors in Graph's shape.
    r = await client.get(f"{contacts_url}/{ids[1]}")
    err = r.json().get("error", {})
    check("deleted contact 404", r.status_code == 404 and err.get("code") == "ErrorItemNotFound", r.text)
    check("error innerError", err.get("innerError", {}).get("request-id") == r.headers.get("request-id"), err)
    r = await client.get(contacts_url, params={"$search": '"Person"'})
    check("$search refused", r.status_code == 400 and r.json()["error"]["code"], r.text)
    r = await client.get(contacts_url, params={"$select": "nope"})
    check("unknown property refused", r.status_code == 400 and "nope" in r.json()["error"]["message"], r.text)
    r = await client.post(contacts_url, json={"givenName": "X", "notAProperty": 1})
    check("unknown body property refused", r.status_code == 400, r.text)
    r = await client.get(contacts_url, headers={"Authorization": "Bearer not-a-token"})
    check("bad token", r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken", r.text)

    # Clean up all but the kept contact and the event (the Rust test checks they are in the fake).
    for cid in ids[2:]:
        await call("DELETE", f"{contacts_url}/{cid}", 204)
    left = await call("GET", contacts_url)
    check("left", [c["id"] for c in left["value"]] == [ids[0]], left)
    await client.aclose()


asyncio.run(main())
print(f"msgraph-core {version('msgraph-core')}: {len(checks)} checks passed against {FAKE}/v1.0")
