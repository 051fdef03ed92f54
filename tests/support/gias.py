"""Writes small extracts in the layout of GIAS's `edubasealldataYYYYMMDD.csv` (its real
headers, in its order, dd-mm-yyyy dates, Windows-1252 bytes), for the register's tests.
Establishments are invented: synthetic names and URNs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

SEN_COLUMNS = [f"SEN{n} (name)" for n in range(1, 14)]
# The headers of the GIAS "all establishment data" extract, in file order (2024/2025 layout).
HEADERS = [
    "URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName",
    "TypeOfEstablishment (code)", "TypeOfEstablishment (name)",
    "EstablishmentTypeGroup (code)", "EstablishmentTypeGroup (name)",
    "EstablishmentStatus (code)", "EstablishmentStatus (name)",
    "ReasonEstablishmentOpened (code)", "ReasonEstablishmentOpened (name)", "OpenDate",
    "ReasonEstablishmentClosed (code)", "ReasonEstablishmentClosed (name)", "CloseDate",
    "PhaseOfEducation (code)", "PhaseOfEducation (name)", "StatutoryLowAge",
    "StatutoryHighAge", "Boarders (code)", "Boarders (name)", "NurseryProvision (name)",
    "OfficialSixthForm (code)", "OfficialSixthForm (name)", "Gender (code)", "Gender (name)",
    "ReligiousCharacter (code)", "ReligiousCharacter (name)", "ReligiousEthos (name)",
    "Diocese (code)", "Diocese (name)", "AdmissionsPolicy (code)", "AdmissionsPolicy (name)",
    "SchoolCapacity", "SpecialClasses (code)", "SpecialClasses (name)", "CensusDate",
    "NumberOfPupils", "NumberOfBoys", "NumberOfGirls", "PercentageFSM",
    "TrustSchoolFlag (code)", "TrustSchoolFlag (name)", "Trusts (code)", "Trusts (name)",
    "SchoolSponsorFlag (name)", "SchoolSponsors (name)", "FederationFlag (name)",
    "Federations (code)", "Federations (name)", "UKPRN", "FEHEIdentifier",
    "FurtherEducationType (name)", "OfstedLastInsp", "OfstedSpecialMeasures (code)",
    "OfstedSpecialMeasures (name)", "LastChangedDate", "Street", "Locality", "Address3",
    "Town", "County (name)", "Postcode", "SchoolWebsite", "TelephoneNum", "HeadTitle (name)",
    "HeadFirstName", "HeadLastName", "HeadPreferredJobTitle", "BSOInspectorateName (name)",
    "InspectorateReport", "DateOfLastInspectionVisit", "NextInspectionVisit",
    "TeenMoth (name)", "TeenMothPlaces", "CCF (name)", "SENPRU (name)", "EBD (name)",
    "PlacesPRU", "FTProv (name)", "EdByOther (name)", "Section41Approved (name)",
    *SEN_COLUMNS, "TypeOfResourcedProvision (name)", "ResourcedProvisionOnRoll",
    "ResourcedProvisionCapacity", "SenUnitOnRoll", "SenUnitCapacity", "GOR (code)",
    "GOR (name)", "DistrictAdministrative (code)", "DistrictAdministrative (name)",
    "AdministrativeWard (code)", "AdministrativeWard (name)",
    "ParliamentaryConstituency (code)", "ParliamentaryConstituency (name)",
    "UrbanRural (code)", "UrbanRural (name)", "GSSLACode (name)", "Easting", "Northing",
    "MSOA (name)", "LSOA (name)", "InspectorateName (name)", "SENStat", "SENNoStat",
    "BoardingEstablishment (name)", "PropsName", "PreviousLA (code)", "PreviousLA (name)",
    "PreviousEstablishmentNumber", "OfstedRating (name)", "Country (name)", "UPRN",
    "SiteName", "QABName (code)", "QABName (name)", "EstablishmentAccredited (code)",
    "EstablishmentAccredited (name)", "QABReport", "CHNumber", "MSOA (code)", "LSOA (code)",
    "FSM", "AccreditationExpiryDate",
]
STATUS_NAMES = {"1": "Open", "2": "Closed", "3": "Open, but proposed to close",
                "4": "Proposed to open"}
PHASES = {"2": "Primary", "4": "Secondary", "0": "Not applicable", "7": "All-through"}


def establishment(urn: str, name: str, la_code: str, la_name: str, status: str = "1",
                  phase: str = "2", opened: str = "01-09-1995", closed: str = "") -> dict:
    """One row: the columns the register reads, plus typical values in a few others."""
    row = dict.fromkeys(HEADERS, "")
    row.update({
        "URN": urn, "LA (code)": la_code, "LA (name)": la_name, "EstablishmentNumber": "2001",
        "EstablishmentName": name, "TypeOfEstablishment (code)": "01",
        "TypeOfEstablishment (name)": "Community school",
        "EstablishmentTypeGroup (code)": "4",
        "EstablishmentTypeGroup (name)": "Local authority maintained schools",
        "EstablishmentStatus (code)": status,
        "EstablishmentStatus (name)": STATUS_NAMES[status], "OpenDate": opened,
        "CloseDate": closed, "PhaseOfEducation (code)": phase,
        "PhaseOfEducation (name)": PHASES[phase], "StatutoryLowAge": "4",
        "StatutoryHighAge": "11", "Gender (name)": "Mixed", "Town": "Northtown",
        "Postcode": "ZZ99 1ZZ", "HeadFirstName": "Synthetic", "HeadLastName": "Head",
        "Country (name)": "United Kingdom", "LastChangedDate": "04-01-2027",
    })
    return row


def write_extract(path: Path, rows: list[dict], raw_lines: list[bytes] = ()) -> Path:
    """Writes the rows as GIAS does (every field quoted, CRLF, Windows-1252); `raw_lines`
    are appended as they are, for bytes that no encoder would write."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=HEADERS, quoting=csv.QUOTE_ALL,
                            lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(text.getvalue().encode("cp1252") + b"".join(raw_lines))
    return path
