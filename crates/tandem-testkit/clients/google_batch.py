"""Google's own Python client drives the Google fake's Calendar batch endpoint.

Run by crates/tandem-testkit/tests/google_clients.rs with the fake in the environment (see
google_apiclient.py for the variables). The Calendar service is built with `build_from_document`
from the discovery document the library ships, with only `rootUrl` pointed at the fake, so that
`service.new_batch_http_request()` posts to `{rootUrl}batch/calendar/v3` (the document's
`batchPath`) and the inner requests name `/calendar/v3/...` paths. The multipart encoding, the
`Content-ID` matching of answers and the per-part error mapping (`HttpError`) are the library's.

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
        doc = json.load(f)
    check(doc.get("batchPath") == "batch/calendar/v3", f"batchPath {doc.get('batchPath')}")
    doc["rootUrl"] = root
    doc["baseUrl"] = root + doc["servicePath"]
    http = AuthorizedHttp(creds, http=httplib2.Http(proxy_info=None, timeout=30))
    calendar = build_from_document(doc, http=http)
    events = calendar.events()

    answers = {}

    def callback(request_id, response, exception):
        answers[request_id] = (response, exception)

    # Three inserts, then a batch mixing a read, a patch with a stale If-Match and a delete.
    batch = calendar.new_batch_http_request(callback=callback)
    for n in range(1, 4):
        batch.add(
            events.insert(
                calendarId="primary",
                sendUpdates="none",
                body={
                    "id": f"tandembatch000{n}",
                    "summary": f"Batch {n}",
                    "start": {"dateTime": f"2026-04-0{n}T09:00:00Z"},
                    "end": {"dateTime": f"2026-04-0{n}T10:00:00Z"},
                },
            ),
            request_id=f"insert-{n}",
        )
    batch.execute()
    for n in range(1, 4):
        response, exception = answers[f"insert-{n}"]
        check(exception is None, f"insert {n} failed: {exception}")
        check(response.get("id") == f"tandembatch000{n}" and response.get("etag"), f"insert {n} answered {response}")

    answers.clear()
    batch = calendar.new_batch_http_request(callback=callback)
    batch.add(events.get(calendarId="primary", eventId="tandembatch0001"), request_id="get")
    patch = events.patch(calendarId="primary", eventId="tandembatch0002", body={"location": "Room 9"})
    patch.headers["If-Match"] = '"1"'
    batch.add(patch, request_id="stale-patch")
    batch.add(events.delete(calendarId="primary", eventId="tandembatch0003", sendUpdates="none"), request_id="delete")
    batch.add(events.get(calendarId="primary", eventId="nosuchevent0"), request_id="missing")
    batch.execute()
    got, exception = answers["get"]
    check(exception is None and got.get("summary") == "Batch 1", f"get answered {got} {exception}")
    _, exception = answers["stale-patch"]
    check(isinstance(exception, HttpError) and int(exception.resp.status) == 412, f"stale patch: {exception}")
    _, exception = answers["delete"]
    check(exception is None, f"delete: {exception}")
    _, exception = answers["missing"]
    check(isinstance(exception, HttpError) and int(exception.resp.status) == 404, f"missing event: {exception}")

    print(json.dumps({"inserted": [f"tandembatch000{n}" for n in range(1, 4)], "deleted": "tandembatch0003"}))


if __name__ == "__main__":
    main()
