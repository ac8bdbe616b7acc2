"""Google's own Python client lists expanded recurring events from the Google fake.

Run by crates/tandem-testkit/tests/google_clients.rs with the fake in the environment (see
google_apiclient.py for the variables) plus:

    TANDEM_GOOGLE_EXPECTED  JSON: {"timeMin", "timeMax", "items": [{"id", "recurringEventId"?,
                            "originalStartTime"?, "status"?, "summary"}...]} in start order

The Calendar service is built with `build_from_document` from the discovery document the library
ships, unmodified; only the endpoint is given (`client_options.api_endpoint`). The script lists
with `service.events().list(singleEvents=True, orderBy="startTime", timeMin, timeMax,
maxResults=2)` and follows `list_next` to the last page, then checks ids, `recurringEventId` and
`originalStartTime` against the expectation, and that `orderBy="startTime"` without
`singleEvents` is refused (`HttpError` 400 `badRequest`).

Prints a JSON summary on success; exits non-zero on the first mismatch.
"""

import json
import os
import sys

import googleapiclient
import httplib2
from google.oauth2 import service_account
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError


def check(cond, what):
    if not cond:
        print(f"MISMATCH: {what}", file=sys.stderr)
        sys.exit(1)


def main():
    root = os.environ["TANDEM_GOOGLE_URL"].rstrip("/") + "/"
    expected = json.loads(os.environ["TANDEM_GOOGLE_EXPECTED"])
    info = {
        "type": "service_account",
        "private_key_id": "test-key",
        "private_key": os.environ["TANDEM_GOOGLE_KEY"],
        "client_email": os.environ["TANDEM_GOOGLE_ACCOUNT"],
        "client_id": "100000000000000000001",
        "token_uri": root + "token",
    }
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/calendar"]
    ).with_subject(os.environ["TANDEM_GOOGLE_USER"])
    path = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", "calendar.v3.json")
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    http = AuthorizedHttp(creds, http=httplib2.Http(proxy_info=None, timeout=30))
    calendar = build_from_document(doc, http=http, client_options={"api_endpoint": root + "calendar/v3/"})
    events = calendar.events()

    items, pages, sync_token = [], 0, None
    request = events.list(
        calendarId="primary",
        singleEvents=True,
        orderBy="startTime",
        timeMin=expected["timeMin"],
        timeMax=expected["timeMax"],
        maxResults=2,
    )
    while request is not None:
        page = request.execute()
        pages += 1
        check(page.get("kind") == "calendar#events", f"page kind {page.get('kind')}")
        check(len(page.get("items", [])) <= 2, f"page of {len(page.get('items', []))} items")
        items += page.get("items", [])
        if "nextPageToken" in page:
            check("nextSyncToken" not in page, "nextSyncToken on a page that is not the last")
        else:
            sync_token = page.get("nextSyncToken")
        request = events.list_next(request, page)
    check(sync_token, "no nextSyncToken on the last page")
    want = expected["items"]
    check([e["id"] for e in items] == [w["id"] for w in want], f"ids {[e['id'] for e in items]}")
    for got, w in zip(items, want):
        for key in ("recurringEventId", "originalStartTime", "summary"):
            check(got.get(key) == w.get(key), f"{got['id']} {key}: {got.get(key)!r}, wanted {w.get(key)!r}")
        check("recurrence" not in got, f"{got['id']} carries recurrence")
        check(got.get("status") == "confirmed", f"{got['id']} status {got.get('status')}")
    check(pages == (len(want) + 1) // 2, f"{pages} pages for {len(want)} items")

    try:
        events.list(calendarId="primary", orderBy="startTime").execute()
        check(False, "orderBy=startTime without singleEvents accepted")
    except HttpError as e:
        check(int(e.resp.status) == 400, f"orderBy without singleEvents: status {e.resp.status}")
        reason = json.loads(e.content)["error"]["errors"][0]["reason"]
        check(reason == "badRequest", f"orderBy without singleEvents: reason {reason}")

    print(json.dumps({"instances": [e["id"] for e in items], "pages": pages}))


if __name__ == "__main__":
    main()
