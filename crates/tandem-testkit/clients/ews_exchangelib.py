"""exchangelib, the widely used Python EWS client, against Tandem's EWS fake.

Run by crates/tandem-testkit/tests/independent_clients.rs with the fake in the environment:

    TANDEM_EWS_URL        http://127.0.0.1:PORT/EWS/Exchange.asmx (the service endpoint)
    TANDEM_EWS_USER       the service account
    TANDEM_EWS_PASSWORD   its password
    TANDEM_EWS_MAILBOX    the mailbox to impersonate
    TANDEM_EWS_AUTH       NTLM (default) or basic

Autodiscover is off: the endpoint is given directly, with the server version (Exchange 2016 CU,
15.1.2507) so that exchangelib does not probe for it. Everything else is exchangelib as shipped:
its SOAP envelopes, the ExchangeImpersonation header and X-AnchorMailbox (access_type
IMPERSONATION), its NTLM handshake (requests_ntlm/pyspnego), its response parsing.

Exits non-zero on the first mismatch; prints a one-line summary on success.
"""

import datetime
import os
import sys
from importlib.metadata import version

from exchangelib import (
    BASIC,
    IMPERSONATION,
    NTLM,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    Version,
)
from exchangelib.folders import Contacts as ContactsFolder
from exchangelib.indexed_properties import EmailAddress, PhoneNumber


def check(cond, what):
    if not cond:
        print(f"MISMATCH: {what}", file=sys.stderr)
        sys.exit(1)


def main():
    url = os.environ["TANDEM_EWS_URL"]
    auth = NTLM if os.environ.get("TANDEM_EWS_AUTH", "NTLM").upper() == "NTLM" else BASIC
    config = Configuration(
        service_endpoint=url,
        credentials=Credentials(os.environ["TANDEM_EWS_USER"], os.environ["TANDEM_EWS_PASSWORD"]),
        auth_type=auth,
        version=Version(build=Build(15, 1, 2507, 6)),
    )
    account = Account(
        primary_smtp_address=os.environ["TANDEM_EWS_MAILBOX"],
        config=config,
        autodiscover=False,
        access_type=IMPERSONATION,
    )

    # A contacts folder under Contacts.
    contacts = account.contacts
    folder = ContactsFolder(parent=contacts, name="Tandem exchangelib")
    folder.save()
    check(folder.id, "folder created with an id")

    # Contacts: create, read, update, delete.
    kept = Contact(
        folder=folder,
        display_name="Kept Client",
        given_name="Kept",
        surname="Client",
        company_name="Contoso",
        job_title="Engineer",
        email_addresses=[EmailAddress(label="EmailAddress1", email="kept@example.com")],
        phone_numbers=[PhoneNumber(label="MobilePhone", phone_number="+1 555 0100")],
    )
    kept.save()
    gone = Contact(folder=folder, display_name="Gone Client", given_name="Gone", surname="Client")
    gone.save()
    fetched = folder.get(id=kept.id)
    check(fetched.given_name == "Kept" and fetched.surname == "Client", f"read back {fetched.given_name} {fetched.surname}")
    check(fetched.email_addresses and fetched.email_addresses[0].email == "kept@example.com", "email read back")
    old_key = fetched.changekey
    fetched.job_title = "Architect"
    fetched.save(update_fields=["job_title"])
    check(fetched.changekey != old_key, "change key advanced on update")
    again = folder.get(id=kept.id)
    check(again.job_title == "Architect", f"job title updated, got {again.job_title}")
    gone.delete()

    # Calendar items: create, read, update, delete.
    tz = EWSTimeZone("Europe/Berlin")
    start = EWSDateTime(2026, 3, 2, 9, 0, tzinfo=tz)
    event = CalendarItem(
        folder=account.calendar,
        subject="Independent client review",
        body="Agenda",
        location="Room 1",
        start=start,
        end=start + datetime.timedelta(hours=1),
    )
    event.save(send_meeting_invitations="SendToNone")
    got = account.calendar.get(id=event.id)
    check(got.subject == "Independent client review", f"event subject {got.subject}")
    got.location = "Room 2"
    got.save(update_fields=["location"], send_meeting_invitations="SendToNone")
    check(account.calendar.get(id=event.id).location == "Room 2", "event updated")
    temp = CalendarItem(folder=account.calendar, subject="Temp", start=start, end=start + datetime.timedelta(hours=1))
    temp.save(send_meeting_invitations="SendToNone")
    temp.delete(send_meeting_cancellations="SendToNone")

    # SyncFolderItems: the folder's state after the writes above (three contacts), paged two at a
    # time, so that exchangelib follows IncludesLastItemInRange=false.
    for n in (1, 2):
        Contact(folder=folder, display_name=f"Extra {n}", given_name="Extra", surname=str(n)).save()
    created = []
    state = None
    for change_type, item in folder.sync_items(max_changes_returned=2):
        created.append(change_type)
    state = folder.item_sync_state
    check(created == ["create"] * 3, f"sync saw {created}")
    Contact(folder=folder, display_name="Late Client", given_name="Late", surname="Client").save()
    later = [c for c, _ in folder.sync_items(sync_state=state, max_changes_returned=2)]
    check(later == ["create"], f"incremental sync saw {later}")

    print(
        f"exchangelib {version('exchangelib')} ({auth}): folder, contacts and calendar CRUD, "
        f"sync {len(created)}+{len(later)} changes"
    )


if __name__ == "__main__":
    main()
