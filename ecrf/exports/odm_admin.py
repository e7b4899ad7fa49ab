"""The ODM AdminData: the user accounts (folded from their ``user:`` streams), the sites as
``Location`` and one ``SignatureDef`` per signature meaning."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from ecrf.accounts.model import ALL_SITES, User, fold_user
from ecrf.commands.edit_checks import SYSTEM
from ecrf.commands.workflow import MEANINGS
from ecrf.exports.odm_xml import MDV_OID, STUDY_OID, el, location_oid, signature_oid, user_oid
from events import EventStore
from projections.casebook import REGISTRATION

USER_TYPES = {"investigator": "Investigator", "monitor": "Sponsor", "data_manager": "Sponsor"}
SIGNATURE_MEANINGS = {
    "authorship": "Authorship: I entered or am responsible for the data of this casebook.",
    "review": "Review: I have reviewed the data of this casebook.",
    "approval": "Approval: I approve the data of this casebook as accurate and complete.",
}
LEGAL_REASON = ("Electronic signature under 21 CFR Part 11 (11.50, 11.70, 11.200): the signer "
                "re-entered the password; a later change to the casebook invalidates it.")


def admin_data(store: EventStore, user: User, position: int, referenced: set[str],
                effective: date) -> ET.Element:
    """Users (accounts as of the position, and any other actor named), sites, SignatureDefs."""
    accounts = _accounts(store, position)
    sites = sorted({e.data["values"]["site_id"] for e in store.read_all(types=[REGISTRATION])
                    if e.position <= position}
                   | {s for a in accounts for s in a.sites if s != ALL_SITES})
    sites = [s for s in sites if user.sees_site(s)]
    admin = el(None, "AdminData", {"StudyOID": STUDY_OID})
    listed = [a for a in accounts if a.username in referenced or ALL_SITES in a.sites
              or any(s in sites for s in a.sites)]
    for account in listed:
        node = el(admin, "User", {"OID": user_oid(account.username),
                                   "UserType": USER_TYPES.get(account.role, "Other")})
        el(node, "LoginName", text=account.username)
        state = "" if account.active else ", deactivated"
        el(node, "DisplayName", text=f"{account.full_name} ({account.role}{state})")
        el(node, "FullName", text=account.full_name)
        for site in sites if ALL_SITES in account.sites else [s for s in sites
                                                              if s in account.sites]:
            el(node, "LocationRef", {"LocationOID": location_oid(site)})
    for name in sorted(referenced - {a.username for a in listed}):
        node = el(admin, "User", {"OID": user_oid(name), "UserType": "Other"})
        el(node, "LoginName", text=name)
        if name == SYSTEM.username:
            el(node, "DisplayName", text=f"{SYSTEM.full_name} (system)")
    for site in sites:
        location = el(admin, "Location", {"OID": location_oid(site), "Name": site,
                                           "LocationType": "Site"})
        el(location, "MetaDataVersionRef", {"StudyOID": STUDY_OID, "MetaDataVersionOID": MDV_OID,
                                             "EffectiveDate": effective.isoformat()})
    for meaning in MEANINGS:
        definition = el(admin, "SignatureDef", {"OID": signature_oid(meaning),
                                                 "Methodology": "Electronic"})
        el(definition, "Meaning", text=SIGNATURE_MEANINGS.get(meaning, meaning))
        el(definition, "LegalReason", text=LEGAL_REASON)
    return admin


def _accounts(store: EventStore, position: int) -> list[User]:
    accounts = []
    for stream in store.stream_ids("UserCreated"):
        account = fold_user(store.read_stream(stream, up_to_position=position))
        if account is not None and stream.startswith("user:"):
            accounts.append(account)
    return accounts
