"""A deterministic corpus of realistic resolved JSM issues, for the fake Jira, and new tickets
that describe the same problems in other words.

Each *problem family* (VPN certificate, Outlook credential prompts, stuck print queue, …) has
several ways to report it, environment details, an investigation (a JSM internal comment),
and the fix the agent sent the customer (the last public comment). Issues carry ADF the way
Jira Cloud stores it: paragraphs, bullet and ordered lists, code blocks with logs, tables,
mentions, links, emoji. New tickets paraphrase a family's problem as a requester would type
it, without the issue's wording; ``family`` tells which fix answers them.

    issues = generate_issues(240, project="HIST")   # list of Jira REST issue dicts
    tickets = generate_new_tickets(60)               # list of NewTicket(title, description, family)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Family:
    name: str
    summaries: tuple[str, ...]
    symptoms: tuple[str, ...]
    log: str  # an error log or command output, in a code block
    internal: tuple[str, ...]  # investigation notes (internal)
    fix_steps: tuple[str, ...]  # the fix, as numbered steps in the last public comment
    component: str
    paraphrases: tuple[tuple[str, str], ...]  # (title, description) of new tickets


FAMILIES: tuple[Family, ...] = (
    Family(
        "vpn-certificate",
        (
            "VPN fails with certificate validation error",
            "AnyConnect: certificate validation failure when connecting",
            "Cannot connect to VPN - certificate error",
        ),
        (
            "Since this morning the Cisco AnyConnect client refuses to connect and shows a certificate validation failure.",
            "Remote users get 'Certificate Validation Failure' in AnyConnect; the connection never establishes.",
        ),
        "AnyConnect: Certificate Validation Failure\nclient cert CN={user}.corp expired on 2025-02-28",
        (
            "The user certificate in the personal store expired; the auto-renewal GPO did not reach remote laptops.",
        ),
        (
            "Open the self-service portal and choose Certificates > Renew VPN certificate.",
            "Restart the AnyConnect client.",
            "Connect to vpn.example.com again.",
        ),
        "VPN",
        (
            (
                "Working from home, can't get on the company network",
                "When I try to log on to the remote access tool it says something about validating a certificate and then gives up.",
            ),
            (
                "Remote access broken after the weekend",
                "The remote connection app just says certificate validation failed. I need to reach the intranet from home.",
            ),
        ),
    ),
    Family(
        "outlook-credentials",
        (
            "Outlook keeps prompting for password",
            "Outlook asks for credentials over and over",
            "Repeated password prompt in Outlook desktop",
        ),
        (
            "Outlook desktop pops up a password window every few minutes even though the password is correct.",
            "After the password change Outlook keeps asking for credentials and does not sync new mail.",
        ),
        "Outlook: The server {user}@example.com requires credentials (0x80190191)\nModern auth: token refresh failed",
        (
            "Stale credentials in Windows Credential Manager after the password change; the profile caches the old token.",
        ),
        (
            "Open Windows Credential Manager and remove every entry named MicrosoftOffice16.",
            "Close Outlook, create a new mail profile in Control Panel > Mail.",
            "Start Outlook and sign in once with the new password.",
        ),
        "Email",
        (
            (
                "Email program nags me for my password",
                "Every few minutes my mail app pops up a box wanting my login again, I type it and it comes back.",
            ),
            (
                "Mail keeps wanting me to sign in",
                "Since I changed my password yesterday the desktop mail client won't stop asking me to log in and new messages don't arrive.",
            ),
        ),
    ),
    Family(
        "print-spooler",
        (
            "Print jobs stuck in queue",
            "Printer queue frozen on floor {floor} printer",
            "Documents not printing, queue shows error",
        ),
        (
            "Jobs sent to the floor {floor} printer stay in the queue with status Error and nothing comes out.",
            "Nobody on floor {floor} can print; the queue on the print server is stuck.",
        ),
        "Get-PrintJob -PrinterName PRN-F{floor}-01\nJobStatus : Error, Spooling\nEvent 372: The document failed to print",
        ("The spooler on print server prn-srv-02 hung on a corrupt job; other queues affected too.",),
        (
            "Restart the Print Spooler service on prn-srv-02.",
            "Delete the stuck files in C:\\Windows\\System32\\spool\\PRINTERS.",
            "Print a test page from the queue.",
        ),
        "Printing",
        (
            (
                "Nothing comes out of the printer",
                "I sent my report to the printer near the kitchen three times, it just sits waiting and the paper never comes out.",
            ),
            (
                "Printer not working for our whole floor",
                "Everyone here is trying to print and the documents hang forever in the list.",
            ),
        ),
    ),
    Family(
        "account-lockout",
        (
            "Account locked out repeatedly",
            "AD account locks every hour after password change",
            "User locked out again and again",
        ),
        (
            "The account gets locked a few minutes after each unlock; the user changed the password on Monday.",
            "Repeated lockouts (event 4740) since the last password change.",
        ),
        "EventID 4740: A user account was locked out.\nCaller Computer Name: {user}-IPHONE\nBad password count: 5",
        ("Lockout source is the ActiveSync device: the phone's mail app still uses the old password.",),
        (
            "Update the password in the mail app of your phone (or remove and re-add the account).",
            "We unlocked the account in Active Directory.",
            "If it locks again, tell us which devices use your account.",
        ),
        "Identity",
        (
            (
                "I keep getting locked out of my computer",
                "Every morning it says my account is locked, the desk unlocks it and a bit later it happens again.",
            ),
            (
                "Locked account again",
                "After I set my new password I get locked out several times a day, I did not type anything wrong.",
            ),
        ),
    ),
    Family(
        "wifi-8021x",
        (
            "Laptop cannot join corporate Wi-Fi",
            "802.1X authentication fails on CORP-WIFI",
            "Wi-Fi connects to guest but not to CORP",
        ),
        (
            "The laptop sees CORP-WIFI but authentication fails; the guest network works.",
            "After re-imaging, the device can no longer connect to the corporate wireless network.",
        ),
        "NPS: Reason Code 16 - Authentication failed due to a user credentials mismatch\nEAP-TLS: no client certificate",
        ("The device certificate was not enrolled after the re-image; Intune shows it non-compliant.",),
        (
            "Connect to the guest network.",
            "Open Company Portal and choose Sync to enrol the Wi-Fi certificate.",
            "Restart the laptop and select CORP-WIFI.",
        ),
        "Network",
        (
            (
                "Wireless doesn't work in the office",
                "My laptop can only get on the visitors wireless, the normal office one says it can't connect.",
            ),
            (
                "Can't get online at my desk",
                "Since my computer was reinstalled the office wireless network refuses me, only the guest one works.",
            ),
        ),
    ),
    Family(
        "disk-full",
        (
            "C: drive full, laptop very slow",
            "Low disk space warning on C:",
            "Laptop out of disk space",
        ),
        (
            "Windows warns that C: is almost full and applications are slow to start.",
            "Only 300 MB free on the system drive; updates fail to install.",
        ),
        "Get-PSDrive C\nUsed (GB): 236.8  Free (GB): 0.3\nWindows Update error 0x80070070",
        ("WinSxS and the OneDrive cache take 90 GB; files on demand was off.",),
        (
            "Run Disk Cleanup and tick Windows Update Cleanup.",
            "In OneDrive settings turn on Files On-Demand and set old folders to online-only.",
            "Empty the recycle bin and restart.",
        ),
        "Workstation",
        (
            (
                "Computer says storage is almost empty",
                "I get a red bar saying there is no space left and everything takes ages to open.",
            ),
            (
                "No room left on my laptop",
                "Updates won't install because there is no free space, and the machine crawls.",
            ),
        ),
    ),
    Family(
        "teams-audio",
        (
            "No audio in Teams meetings",
            "Teams: others cannot hear me",
            "Microphone not working in Teams calls",
        ),
        (
            "In Teams meetings the user hears nothing and others cannot hear the microphone; audio works elsewhere.",
            "Teams shows no speaker or microphone device after the Windows update.",
        ),
        "Teams device settings: Speaker = None, Microphone = None\nRealtek(R) Audio driver 6.0.9235.1 (problem code 10)",
        ("The Realtek driver from the cumulative update failed to start (code 10).",),
        (
            "Update the Realtek audio driver from Software Center.",
            "In Teams > Settings > Devices pick your headset for speaker and microphone.",
            "Make a test call.",
        ),
        "Collaboration",
        (
            (
                "Colleagues can't hear me in video calls",
                "In our online meetings nobody hears me and I don't hear them either, but music plays fine.",
            ),
            (
                "Sound broken in meetings app",
                "Since the update the chat and meeting program finds no headset or microphone.",
            ),
        ),
    ),
    Family(
        "sap-snc",
        (
            "SAP GUI logon error SNC name not found",
            "Cannot log on to SAP PRD: SNC error",
            "SAP Logon fails after server move",
        ),
        (
            "SAP GUI shows 'SNC name of partner system not found' when logging on to PRD.",
            "Since the weekend migration, SAP logon to the production system fails with an SNC error.",
        ),
        "SNCERR_GSSAPI: GSS-API(maj): No credentials were supplied\nPartner: p:CN=sapprd01.example.com",
        ("PRD moved to sapprd02; the SAP Logon pad of some users still points to the old SNC name.",),
        (
            "Close SAP Logon.",
            "Replace saplogon.ini with the version from \\\\fileserver\\sap\\config.",
            "Open SAP Logon and connect to PRD.",
        ),
        "ERP",
        (
            (
                "Can't get into the ERP system",
                "When I open the SAP login screen and pick production it complains about a secure network name.",
            ),
            (
                "Finance system login error",
                "Our accounting system (SAP) refuses to open the production entry since Monday, some security name error.",
            ),
        ),
    ),
    Family(
        "mfa-lost-phone",
        (
            "Lost phone, cannot approve MFA",
            "New phone - Authenticator not set up",
            "MFA prompts go to old device",
        ),
        (
            "The user replaced the phone and can no longer approve sign-in requests.",
            "Multi-factor prompts still go to the old phone, which was lost.",
        ),
        "Sign-in error AADSTS50074: Strong Authentication is required.\nMethod: PhoneAppNotification (device unavailable)",
        ("Identity verified by the manager on a call; old method removed in Entra ID.",),
        (
            "We issued a temporary access pass (valid 8 hours).",
            "Go to mysignins.microsoft.com/security-info and sign in with the pass.",
            "Add the Microsoft Authenticator app on the new phone.",
        ),
        "Identity",
        (
            (
                "New mobile, can't confirm my logins",
                "I got a new phone and the app that asks me to approve sign-ins is gone, now I can't get into anything.",
            ),
            (
                "Sign-in approval goes to my old phone",
                "My old mobile was stolen and every login waits for an approval on it.",
            ),
        ),
    ),
    Family(
        "share-access-denied",
        (
            "Access denied to finance share",
            "Cannot open \\\\fileserver\\finance",
            "Permission error on shared drive",
        ),
        (
            "The user moved to the finance team and gets 'Access is denied' on the finance share.",
            "Mapped drive F: shows a red cross and opening it says access denied.",
        ),
        "Windows cannot access \\\\fileserver\\finance\nError code 0x80070005 Access is denied.",
        ("Not a member of FIN-Share-RW; the manager approved the access in the ticket.",),
        (
            "We added you to the FIN-Share-RW group.",
            "Sign out of Windows and sign in again so the new group applies.",
            "Open the F: drive.",
        ),
        "Access",
        (
            (
                "No access to my new team's folder",
                "I joined accounting last week and the shared folder for the team says I'm not allowed.",
            ),
            (
                "Network drive says not allowed",
                "The F drive has a red cross and when I click it I get a message that I don't have permission.",
            ),
        ),
    ),
    Family(
        "excel-addin-crash",
        (
            "Excel crashes opening large workbook",
            "Excel closes unexpectedly",
            "Excel not responding then crashes",
        ),
        (
            "Excel stops responding and closes when opening the monthly workbook; other files open.",
            "Excel crashes right after start when the PDF add-in loads.",
        ),
        "Faulting application EXCEL.EXE, faulting module PDFMaker.OfficeAddin.dll\nException code 0xc0000005",
        ("Crash dump points to the Acrobat PDFMaker COM add-in.",),
        (
            "Open Excel in safe mode (hold Ctrl while starting it).",
            "File > Options > Add-ins > COM Add-ins: untick Acrobat PDFMaker.",
            "Run Quick Repair from Apps & features if it still crashes.",
        ),
        "Office",
        (
            (
                "Spreadsheet program keeps closing",
                "Whenever I open our big monthly spreadsheet the program freezes and shuts down.",
            ),
            (
                "Spreadsheets crash",
                "The spreadsheet application disappears a few seconds after I start it, I lose my work.",
            ),
        ),
    ),
    Family(
        "dock-monitors",
        (
            "External monitors not detected via dock",
            "Docking station: screens stay black",
            "Second screen not working with dock",
        ),
        (
            "Both monitors connected to the USB-C dock stay black; charging works.",
            "Monitors flicker and then are not detected after plugging into the docking station.",
        ),
        "Dell WD19 firmware 01.00.14\nDisplayLink: device descriptor request failed",
        ("Known issue with dock firmware below 01.00.32 and the new BIOS.",),
        (
            "Install the dock firmware update from Software Center.",
            "Update the DisplayLink driver.",
            "Unplug the dock for 30 seconds and plug it back in.",
        ),
        "Workstation",
        (
            (
                "My big screens stay dark",
                "When I plug my laptop into the desk hub the two big screens don't show anything, only the laptop screen works.",
            ),
            (
                "Desk monitors don't come on",
                "The laptop charges through the desk station but my external displays are black.",
            ),
        ),
    ),
    Family(
        "intranet-sso-loop",
        (
            "Intranet keeps asking to log in",
            "SSO loop on intranet site",
            "Single sign-on not working in browser",
        ),
        (
            "Opening the intranet shows a login window again and again instead of signing in automatically.",
            "Edge redirects between the intranet and the login page endlessly.",
        ),
        "HTTP 401 WWW-Authenticate: Negotiate\nKerberos ticket not sent: zone Internet",
        ("The intranet URL is not in the Local Intranet zone on this machine; GPO not applied.",),
        (
            "Run gpupdate /force (or restart) so the intranet zone policy applies.",
            "Clear the browser cookies for intranet.example.com.",
            "Open the intranet again.",
        ),
        "Web",
        (
            (
                "Company portal website keeps asking who I am",
                "The internal news site wants my username and password every time and goes round in circles.",
            ),
            (
                "Endless login on internal website",
                "The browser keeps bouncing me between the company site and a sign-in page.",
            ),
        ),
    ),
    Family(
        "sharepoint-restore",
        (
            "Restore deleted files from SharePoint",
            "Files deleted from team site by mistake",
            "Need old version of document library folder",
        ),
        (
            "A folder was deleted from the team site a month ago and the user needs it back.",
            "Several files disappeared from the SharePoint library; they are not in the user's recycle bin.",
        ),
        "Site: /sites/projects\nFirst-stage recycle bin: 0 items matching 'Q3 plan'",
        ("Items older than 30 days are in the second-stage (site collection) recycle bin.",),
        (
            "We restored the folder from the site collection's second-stage recycle bin.",
            "It is back in its original place in the document library.",
            "Check the files and tell us if anything is missing.",
        ),
        "Collaboration",
        (
            (
                "Deleted folder from our team site",
                "Someone removed the project folder from our online team space weeks ago, can we get it back?",
            ),
            (
                "Lost documents on the team site",
                "Files vanished from our shared online library and they are not in my bin.",
            ),
        ),
    ),
)

NAMES = (
    "Sam Rivera",
    "Ana Costa",
    "Lee Wong",
    "Priya Nair",
    "Tom Becker",
    "Julia Meyer",
    "Omar Haddad",
    "Eva Novak",
)
AGENTS = ("Alex Agent", "Morgan Desk", "Kim Support")
DEVICES = ("Latitude 7440", "ThinkPad T14", "EliteBook 840", "Surface Laptop 5", "MacBook Pro 14")
SYSTEMS = ("Windows 11 23H2", "Windows 11 22H2", "Windows 10 22H2", "macOS 14")
SITES = ("Lyon", "Berlin", "Madrid", "Remote", "London")
PRIORITIES = ("Low", "Medium", "High")
RESOLUTIONS = ("Done", "Fixed", "Done", "Resolved")


def _text(text: str, **marks: str) -> dict:
    node: dict = {"type": "text", "text": text}
    if "href" in marks:
        node["marks"] = [{"type": "link", "attrs": {"href": marks["href"]}}]
    elif marks.get("strong"):
        node["marks"] = [{"type": "strong"}]
    return node


def _paragraph(*content: dict) -> dict:
    return {"type": "paragraph", "content": list(content)}


def _mention(name: str) -> dict:
    return {"type": "mention", "attrs": {"id": f"acc-{name.lower().replace(' ', '-')}", "text": f"@{name}"}}


def _table(rows: list[tuple[str, str]]) -> dict:
    def cell(kind: str, text: str) -> dict:
        return {"type": kind, "content": [_paragraph(_text(text))]}

    return {
        "type": "table",
        "content": [
            {"type": "tableRow", "content": [cell("tableHeader", "Item"), cell("tableHeader", "Value")]}
        ]
        + [
            {"type": "tableRow", "content": [cell("tableCell", name), cell("tableCell", value)]}
            for name, value in rows
        ],
    }


def _doc(*content: dict) -> dict:
    return {"type": "doc", "version": 1, "content": list(content)}


def _jira_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _comment(comment_id: int, author: str, body: dict, created: datetime, *, public: bool) -> dict:
    account = {"accountId": f"acc-{author.lower().replace(' ', '-')}", "displayName": author}
    return {
        "id": str(comment_id),
        "author": account,
        "updateAuthor": account,
        "body": body,
        "created": _jira_time(created),
        "updated": _jira_time(created),
        "jsdPublic": public,
    }


def generate_issues(
    count: int = 240, *, project: str = "HIST", seed: int = 20, start_id: int = 50000
) -> tuple[list[dict], dict[str, str]]:
    """``count`` resolved issues spread over the families; returns (issues, {key: family})."""
    rng = random.Random(seed)
    issues: list[dict] = []
    families: dict[str, str] = {}
    start = datetime(2024, 1, 8, 8, 0, tzinfo=UTC)
    comment_id = start_id * 10
    for number in range(1, count + 1):
        family = FAMILIES[(number - 1) % len(FAMILIES)]
        user, agent = rng.choice(NAMES), rng.choice(AGENTS)
        login = user.split()[0].lower()
        floor = rng.randint(1, 6)
        created = start + timedelta(hours=number * 7 + rng.randint(0, 5), minutes=rng.randint(0, 59))
        resolved = created + timedelta(hours=rng.randint(1, 30))
        summary = rng.choice(family.summaries).format(floor=floor)
        symptom = rng.choice(family.symptoms).format(floor=floor)
        description = _doc(
            _paragraph(_text(symptom)),
            _paragraph(_text("Reported by "), _mention(user), _text(f" ({rng.choice(SITES)} office).")),
            {
                "type": "bulletList",
                "content": [
                    {"type": "listItem", "content": [_paragraph(_text(f"Started: {created:%A} morning"))]},
                    {"type": "listItem", "content": [_paragraph(_text("Restarting did not help"))]},
                ],
            },
            _table(
                [
                    ("Device", rng.choice(DEVICES)),
                    ("System", rng.choice(SYSTEMS)),
                    ("Asset", f"PC-{rng.randint(10000, 99999)}"),
                ]
            ),
            {
                "type": "codeBlock",
                "attrs": {"language": "text"},
                "content": [_text(family.log.format(user=login, floor=floor))],
            },
        )
        comments = []
        comment_id += 1
        comments.append(
            _comment(
                comment_id,
                user,
                _doc(
                    _paragraph(
                        _text("It is still happening, I cannot work properly. "),
                        {"type": "emoji", "attrs": {"shortName": ":pensive:", "text": "😔"}},
                    )
                ),
                created + timedelta(minutes=20),
                public=True,
            )
        )
        comment_id += 1
        comments.append(
            _comment(
                comment_id,
                agent,
                _doc(
                    _paragraph(_text("Investigation: "), _text(rng.choice(family.internal))),
                    _paragraph(_mention(rng.choice(AGENTS)), _text(" FYI, see the runbook.")),
                ),
                created + timedelta(minutes=50),
                public=False,
            )
        )
        comment_id += 1
        steps = {
            "type": "orderedList",
            "attrs": {"order": 1},
            "content": [
                {"type": "listItem", "content": [_paragraph(_text(step))]} for step in family.fix_steps
            ],
        }
        comments.append(
            _comment(
                comment_id,
                agent,
                _doc(
                    _paragraph(_text(f"Hello {user.split()[0]}, this is fixed:")),
                    steps,
                    _paragraph(
                        _text("Details in the "), _text("knowledge base", href="https://kb.example.com/it")
                    ),
                ),
                resolved,
                public=True,
            )
        )
        key = f"{project}-{number}"
        issue_id = str(start_id + number)
        issues.append(
            {
                "id": issue_id,
                "key": key,
                "self": f"https://jira.example.com/rest/api/3/issue/{issue_id}",
                "fields": {
                    "summary": summary,
                    "description": description,
                    "status": {
                        "name": rng.choice(("Resolved", "Closed")),
                        "id": "5",
                        "statusCategory": {"key": "done"},
                    },
                    "resolution": {"name": rng.choice(RESOLUTIONS), "id": "10000"},
                    "resolutiondate": _jira_time(resolved),
                    "priority": {"name": rng.choice(PRIORITIES), "id": "3"},
                    "issuetype": {"name": "[System] Incident", "id": "10006"},
                    "project": {"key": project, "id": "10100"},
                    "labels": [family.name],
                    "components": [{"name": family.component}],
                    "assignee": None,
                    "created": _jira_time(created),
                    "updated": _jira_time(resolved + timedelta(minutes=5)),
                    "comment": {
                        "comments": comments,
                        "maxResults": len(comments),
                        "total": len(comments),
                        "startAt": 0,
                    },
                },
            }
        )
        families[key] = family.name
    return issues, families


@dataclass(frozen=True)
class NewTicket:
    title: str
    description: str
    family: str


OPENINGS = ("Hi,", "Hello IT,", "Good morning,", "Hi team,", "")
CLOSINGS = ("Thanks!", "Can you help?", "This is urgent for me.", "Thank you in advance.", "")


def generate_new_tickets(count: int = 2 * len(FAMILIES), *, seed: int = 21) -> list[NewTicket]:
    """New tickets paraphrasing the families' problems (``count`` spread over the families)."""
    rng = random.Random(seed)
    tickets = []
    for number in range(count):
        family = FAMILIES[number % len(FAMILIES)]
        title, body = family.paraphrases[(number // len(FAMILIES)) % len(family.paraphrases)]
        description = " ".join(part for part in (rng.choice(OPENINGS), body, rng.choice(CLOSINGS)) if part)
        tickets.append(NewTicket(title, description, family.name))
    return tickets


# What a desk new to this product already has, for the "without Jira" baseline: a few articles
# and resolved local tickets covering some of the families.
LOCAL_ARTICLES: tuple[tuple[str, str, str], ...] = (
    (
        "print-spooler",
        "Print jobs stuck in the queue",
        "When print jobs stay in the queue with an error:\n\n1. Restart the Print Spooler service on the print server.\n"
        "2. Delete the stuck files in the spool folder.\n3. Print a test page.",
    ),
    (
        "outlook-credentials",
        "Outlook asks for the password again and again",
        "After a password change Outlook may keep old credentials.\n\n1. Remove the MicrosoftOffice16 entries in "
        "Credential Manager.\n2. Create a new mail profile.\n3. Sign in once.",
    ),
    (
        "disk-full",
        "Free up disk space on a laptop",
        "When C: is full:\n\n1. Run Disk Cleanup with Windows Update Cleanup.\n2. Turn on OneDrive Files On-Demand.\n"
        "3. Empty the recycle bin.",
    ),
)
LOCAL_TICKETS: tuple[tuple[str, str, str, str], ...] = (
    (
        "account-lockout",
        "Account locked every morning",
        "My account is locked each morning since I changed my password.",
        "The phone mail app used the old password; updated it on the phone and unlocked the account.",
    ),
    (
        "teams-audio",
        "No sound in Teams",
        "Teams finds no headset after the update.",
        "Updated the Realtek audio driver and selected the headset in Teams device settings.",
    ),
    (
        "vpn-certificate",
        "Printer driver for VPN users",
        "Remote users need the print driver installed over VPN.",
        "Installed the driver package from Software Center.",
    ),
)
