"""Google's own Python client (google-api-python-client + google-auth) against Tandem's Google fake.

Run by crates/tandem-testkit/tests/google_clients.rs with the fake in the environment:

    TANDEM_GOOGLE_URL       http://127.0.0.1:PORT (the fake's root)
    TANDEM_GOOGLE_ACCOUNT   the service account's email (iss)
    TANDEM_GOOGLE_KEY       the PEM of its RSA private key
    TANDEM_GOOGLE_USER      the user to impersonate (sub)

Credentials are google-auth's service-account credentials with domain-wide delegation
(`with_subject`), token_uri the fake's /token: google-auth signs the JWT, posts the JWT bearer
grant and refreshes on its own. The services are built with `build_from_document` from the
discovery documents the library ships (googleapiclient/discovery_cache/documents/calendar.v3.json
and people.v1.json), unmodified; only the endpoint is given (`client_options.api_endpoint`, which
the library puts in place of rootUrl + servicePath). Requests, URL templates, query encoding, bodies, paging
(`list_next`) and error mapping (`HttpError`) are the library's.

Exits non-zero on the first mismatch; prints a JSON summary on success (the created ids included,
so that the Rust test can check them in the fake).
"""

import json
import os
import sys
from importlib.metadata import version

import googleapiclient
import httplib2
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError

SCOPES = [
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/contacts",
]
# Calls skipped because the fake is known to differ from Google there (see the test and
# docs/testing.md); each is printed with the reason.
SKIPPED = []


def check(cond, what):
    if not cond:
        print(f"MISMATCH: {what}", file=sys.stderr)
        sys.exit(1)


def skip(call, reason):
    SKIPPED.append(call)
    print(f"NOTE: skipped {call}: {reason}", file=sys.stderr)


def discovery(name):
    path = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", name)
    with open(path, encoding="utf-8") as f:
        return f.read()


def status_of(e):
    return int(e.resp.status)


def reason_of(e):
    try:
        err = json.loads(e.content)["error"]
    except Exception:  # noqa: BLE001 - anything unparseable is a mismatch below
        return None
    errors = err.get("errors") or []
    if errors:
        return errors[0].get("reason")
    return err.get("status")


def expect_error(request, status, reason, what):
    try:
        request.execute()
    except HttpError as e:
        check(status_of(e) == status, f"{what}: status {status_of(e)} (wanted {status}): {e.content!r}")
        if reason is not None:
            check(reason_of(e) == reason, f"{what}: reason {reason_of(e)} (wanted {reason}): {e.content!r}")
        return
    check(False, f"{what}: no error (wanted {status} {reason})")


def main():
    root = os.environ["TANDEM_GOOGLE_URL"].rstrip("/") + "/"
    info = {
        "type": "service_account",
        "project_id": "tandem-demo",
        "private_key_id": "test-key",
        "private_key": os.environ["TANDEM_GOOGLE_KEY"],
        "client_email": os.environ["TANDEM_GOOGLE_ACCOUNT"],
        "client_id": "100000000000000000001",
        "token_uri": root + "token",
    }
    user = os.environ["TANDEM_GOOGLE_USER"]
    creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES).with_subject(user)
    check(creds.service_account_email == info["client_email"], "credentials' account")

    # A plain httplib2 transport with the library's own auth wrapper (no proxy, loopback only).
    def http():
        return AuthorizedHttp(creds, http=httplib2.Http(proxy_info=None, timeout=30))

    # api_endpoint replaces the base URL (rootUrl + servicePath): Calendar's servicePath is
    # calendar/v3/, People's is empty.
    calendar = build_from_document(
        discovery("calendar.v3.json"), http=http(), client_options={"api_endpoint": root + "calendar/v3/"}
    )
    people = build_from_document(discovery("people.v1.json"), http=http(), client_options={"api_endpoint": root})
    summary = {"google-api-python-client": version("google-api-python-client"), "google-auth": version("google-auth")}

    # --- Calendar v3 ------------------------------------------------------------------------------
    events = calendar.events()
    seeded = set(json.loads(os.environ.get("TANDEM_GOOGLE_SEEDED_EVENTS", "[]")))
    # Full list, 2 a page, following nextPageToken through list_next, to nextSyncToken.
    seen, pages = [], 0
    request = events.list(calendarId="primary", maxResults=2, showDeleted=False)
    sync_token = None
    while request is not None:
        page = request.execute()
        pages += 1
        check(page.get("kind") == "calendar#events", f"events page kind {page.get('kind')}")
        seen += [e["id"] for e in page.get("items", [])]
        if "nextPageToken" in page:
            check("nextSyncToken" not in page, "nextSyncToken on a page that is not the last")
        else:
            sync_token = page.get("nextSyncToken")
        request = events.list_next(request, page)
    check(set(seen) == seeded, f"events listed {seen}, seeded {sorted(seeded)}")
    check(pages == (len(seeded) + 1) // 2 or (pages == 1 and not seeded), f"{pages} pages for {len(seeded)}")
    check(sync_token, "no nextSyncToken on the last page")
    summary["calendar_full_sync"] = {"events": len(seen), "pages": pages}

    # Insert with a client-chosen id (base32hex), read back, patch with If-Match, stale If-Match.
    event_id = "tandemapiclient0001"
    body = {
        "id": event_id,
        "summary": "Independent client review",
        "location": "Room 1",
        "description": "Written by google-api-python-client",
        "start": {"dateTime": "2026-03-02T09:00:00Z"},
        "end": {"dateTime": "2026-03-02T10:00:00Z"},
        "extendedProperties": {"private": {"tandemKey": "k-1"}},
    }
    created = events.insert(calendarId="primary", body=body, sendUpdates="none").execute()
    check(created.get("id") == event_id, f"inserted id {created.get('id')}")
    check(created.get("kind") == "calendar#event" and created.get("etag"), f"inserted event {created}")
    check(created.get("status") == "confirmed", f"inserted status {created.get('status')}")
    expect_error(events.insert(calendarId="primary", body=body, sendUpdates="none"), 409, "duplicate", "duplicate id")
    got = events.get(calendarId="primary", eventId=event_id).execute()
    check(got.get("etag") == created["etag"] and got.get("summary") == body["summary"], f"read back {got}")

    patch = events.patch(calendarId="primary", eventId=event_id, body={"location": "Room 2"}, sendUpdates="none")
    patch.headers["If-Match"] = created["etag"]
    patched = patch.execute()
    check(patched.get("location") == "Room 2", f"patched location {patched.get('location')}")
    check(patched.get("summary") == body["summary"], "patch kept the summary")
    check(patched.get("etag") != created["etag"], "etag unchanged by the patch")
    stale = events.patch(calendarId="primary", eventId=event_id, body={"location": "Room 3"})
    stale.headers["If-Match"] = created["etag"]
    expect_error(stale, 412, "conditionNotMet", "patch with a stale etag")
    summary["calendar_event"] = {"id": event_id, "etag": patched["etag"]}

    # A second event to delete (with its etag), then the incremental sync from nextSyncToken.
    temp_id = "tandemapiclient0002"
    temp = events.insert(
        calendarId="primary",
        body={"id": temp_id, "summary": "Temp", "start": {"date": "2026-03-03"}, "end": {"date": "2026-03-04"}},
    ).execute()
    delete = events.delete(calendarId="primary", eventId=temp_id, sendUpdates="none")
    delete.headers["If-Match"] = temp["etag"]
    check(delete.execute() == "", "delete answers an empty body")
    expect_error(events.delete(calendarId="primary", eventId=temp_id), 410, "deleted", "delete of a deleted event")
    expect_error(events.get(calendarId="primary", eventId="nosuchevent0"), 404, "notFound", "unknown event")

    changes, request = [], events.list(calendarId="primary", syncToken=sync_token, maxResults=1)
    next_sync = None
    while request is not None:
        page = request.execute()
        changes += page.get("items", [])
        next_sync = page.get("nextSyncToken", next_sync)
        request = events.list_next(request, page)
    by_id = {e["id"]: e for e in changes}
    check(set(by_id) == {event_id, temp_id}, f"incremental sync saw {sorted(by_id)}")
    check(by_id[event_id].get("location") == "Room 2", f"synced event {by_id[event_id]}")
    check(by_id[temp_id].get("status") == "cancelled", f"synced deletion {by_id[temp_id]}")
    check(next_sync and next_sync != sync_token, "incremental sync gave no new nextSyncToken")
    expect_error(
        events.list(calendarId="primary", syncToken="garbage-token"), 400, None, "list with a garbage sync token"
    )
    summary["calendar_incremental_sync"] = sorted(by_id)

    # --- People v1 --------------------------------------------------------------------------------
    conns = people.people().connections()
    seeded_contacts = set(json.loads(os.environ.get("TANDEM_GOOGLE_SEEDED_CONTACTS", "[]")))
    names, pages, people_sync = [], 0, None
    request = conns.list(
        resourceName="people/me", personFields="names,emailAddresses,metadata", pageSize=2, requestSyncToken=True
    )
    while request is not None:
        page = request.execute()
        pages += 1
        names += [p["resourceName"] for p in page.get("connections", [])]
        people_sync = page.get("nextSyncToken", people_sync)
        request = conns.list_next(request, page)
    check(set(names) == seeded_contacts, f"connections listed {names}, seeded {sorted(seeded_contacts)}")
    check(people_sync, "no nextSyncToken with requestSyncToken")
    expect_error(conns.list(resourceName="people/me"), 400, "INVALID_ARGUMENT", "connections without personFields")
    summary["people_full_sync"] = {"contacts": len(names), "pages": pages}

    batch = people.people()
    made = batch.batchCreateContacts(
        body={
            "contacts": [
                {
                    "contactPerson": {
                        "names": [{"givenName": "Kept", "familyName": "Client"}],
                        "emailAddresses": [{"value": "kept@example.com"}],
                        "clientData": [{"key": "tandemKey", "value": "c-1"}],
                    }
                },
                {"contactPerson": {"names": [{"givenName": "Gone", "familyName": "Client"}]}},
            ],
            "readMask": "names,emailAddresses,clientData",
        }
    ).execute()
    results = made.get("createdPeople", [])
    check(len(results) == 2, f"batchCreateContacts answered {made}")
    kept, gone = (r["person"] for r in results)
    check(kept["resourceName"].startswith("people/") and kept.get("etag"), f"created person {kept}")
    check(kept["names"][0]["givenName"] == "Kept", f"created names {kept.get('names')}")

    updated = batch.batchUpdateContacts(
        body={
            "contacts": {
                kept["resourceName"]: {
                    "etag": kept["etag"],
                    "names": [{"givenName": "Kept", "familyName": "Client"}],
                    "organizations": [{"name": "Contoso", "title": "Architect"}],
                }
            },
            "updateMask": "organizations",
            "readMask": "names,organizations",
        }
    ).execute()
    person = updated.get("updateResult", {}).get(kept["resourceName"], {}).get("person", {})
    check(person.get("organizations", [{}])[0].get("title") == "Architect", f"batchUpdateContacts answered {updated}")
    check(person.get("etag") != kept["etag"], "etag unchanged by the update")
    stale = batch.batchUpdateContacts(
        body={
            "contacts": {kept["resourceName"]: {"etag": kept["etag"], "organizations": [{"title": "Stale"}]}},
            "updateMask": "organizations",
            "readMask": "names",
        }
    )
    expect_error(stale, 400, "FAILED_PRECONDITION", "batchUpdateContacts with a stale etag")
    deleted = batch.batchDeleteContacts(body={"resourceNames": [gone["resourceName"]]}).execute()
    check(deleted == {}, f"batchDeleteContacts answered {deleted}")

    # people.getBatchGet: found people and a 404 entry for the deleted one, in request order.
    got = batch.getBatchGet(
        resourceNames=[kept["resourceName"], gone["resourceName"]], personFields="organizations,clientData"
    ).execute()
    responses = got.get("responses", [])
    check(len(responses) == 2, f"getBatchGet answered {got}")
    check(responses[0].get("httpStatusCode") == 200, f"getBatchGet of a live person: {responses[0]}")
    check(responses[0]["person"]["organizations"][0]["title"] == "Architect", f"getBatchGet person {responses[0]}")
    check(responses[0]["person"]["clientData"][0]["value"] == "c-1", f"getBatchGet clientData {responses[0]}")
    check(responses[1].get("httpStatusCode") == 404, f"getBatchGet of a deleted person: {responses[1]}")
    expect_error(batch.getBatchGet(resourceNames=[kept["resourceName"]]), 400, "INVALID_ARGUMENT", "getBatchGet without personFields")
    summary["people_batch_get"] = len(responses)

    changes, request = [], conns.list(resourceName="people/me", personFields="names,metadata", syncToken=people_sync)
    while request is not None:
        page = request.execute()
        changes += page.get("connections", [])
        request = conns.list_next(request, page)
    seen = {p["resourceName"]: p for p in changes}
    check(kept["resourceName"] in seen, f"people sync missed the kept contact: {sorted(seen)}")
    check(
        gone["resourceName"] not in seen or seen[gone["resourceName"]].get("metadata", {}).get("deleted") is True,
        f"people sync: created-then-deleted contact {seen.get(gone['resourceName'])}",
    )

    groups = people.contactGroups()
    group = groups.create(body={"contactGroup": {"name": "Tandem apiclient"}}).execute()
    check(group.get("resourceName", "").startswith("contactGroups/"), f"created group {group}")
    check(group.get("name") == "Tandem apiclient", f"group name {group.get('name')}")
    expect_error(
        groups.create(body={"contactGroup": {"name": "Tandem apiclient"}}), 409, "ALREADY_EXISTS", "duplicate group"
    )
    listed = groups.list(pageSize=50).execute()
    check(
        any(g.get("resourceName") == group["resourceName"] for g in listed.get("contactGroups", [])),
        f"group listed {listed}",
    )
    modified = groups.members().modify(
        resourceName=group["resourceName"], body={"resourceNamesToAdd": [kept["resourceName"]]}
    ).execute()
    check("notFoundResourceNames" not in modified, f"members:modify answered {modified}")

    summary["people"] = {"kept": kept["resourceName"], "gone": gone["resourceName"], "group": group["resourceName"]}
    summary["skipped"] = SKIPPED
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
