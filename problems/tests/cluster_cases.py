"""A labelled set of incidents for measuring recurrence detection (bench/problems_clusters.py).

Each cluster is one underlying cause reported in different words, sometimes under different
categories (as people file them); ``NOISE`` are unrelated incidents, some sharing words with a
cluster. Written by hand for the benchmark; no real ticket data.
"""

from __future__ import annotations

# (cluster label, category, title, description)
CLUSTERS: list[tuple[str, str, str, str]] = [
    # VPN drops
    ("vpn", "Network", "VPN disconnects every hour", "The VPN client drops the tunnel about every hour."),
    (
        "vpn",
        "Network",
        "VPN keeps disconnecting",
        "Since this morning my VPN connection drops every few minutes.",
    ),
    (
        "vpn",
        "Access",
        "Remote access tunnel drops",
        "Working from home, the remote access tunnel keeps cutting out.",
    ),
    (
        "vpn",
        "Network",
        "Lost VPN connection again",
        "GlobalProtect lost the connection again, third time today.",
    ),
    ("vpn", "Network", "Cannot stay connected to VPN", "VPN connects then disconnects after a while."),
    # Outlook / mail sync
    ("mail", "Email", "Outlook not syncing", "New emails do not arrive in Outlook since yesterday."),
    ("mail", "Email", "Emails stuck in outbox", "Messages stay in the Outbox and never get sent."),
    ("mail", "Email", "Outlook does not receive new mail", "My inbox has not updated for two hours."),
    (
        "mail",
        "Software",
        "Mailbox not updating",
        "Outlook shows 'Disconnected' and the mailbox does not update.",
    ),
    (
        "mail",
        "Email",
        "Outlook disconnected from Exchange",
        "Status bar says disconnected from Microsoft Exchange.",
    ),
    # Printer floor 3
    (
        "printer",
        "Hardware",
        "Printer on floor 3 is jammed",
        "The printer near the kitchen on floor 3 jams on every job.",
    ),
    (
        "printer",
        "Hardware",
        "Paper jam third floor printer",
        "Third floor printer shows paper jam, cannot clear it.",
    ),
    (
        "printer",
        "Hardware",
        "Floor 3 printer not printing",
        "Jobs sent to the 3rd floor printer never come out; jam light on.",
    ),
    ("printer", "Hardware", "Printer jam again on level 3", "Same printer on level 3 jammed again."),
    # SAP login
    ("sap", "Access", "Cannot log in to SAP", "SAP GUI says user locked after password change."),
    ("sap", "Access", "SAP account locked", "My SAP account got locked this morning."),
    ("sap", "Software", "SAP login fails", "Login to SAP fails with 'user is locked'."),
    ("sap", "Access", "Locked out of SAP after password reset", "Reset my password and now SAP refuses me."),
    # Wifi building B
    (
        "wifi",
        "Network",
        "Wifi very slow in building B",
        "Wireless in building B is extremely slow since Monday.",
    ),
    (
        "wifi",
        "Network",
        "Wireless network drops in building B",
        "The wifi keeps dropping in the B building meeting rooms.",
    ),
    ("wifi", "Network", "No wifi in B meeting rooms", "Cannot connect to the corporate wifi in building B."),
    ("wifi", "Hardware", "Building B wifi unusable", "WiFi in building B is unusable, pages time out."),
    # Payroll report
    (
        "payroll",
        "Software",
        "Payroll report shows wrong totals",
        "The monthly payroll report totals are off.",
    ),
    (
        "payroll",
        "Software",
        "Incorrect totals in payroll export",
        "Payroll export sums do not match the ledger.",
    ),
    (
        "payroll",
        "Software",
        "Payroll figures are wrong this month",
        "Totals in the payroll report are wrong for March.",
    ),
    (
        "payroll",
        "Finance",
        "Salary report totals incorrect",
        "HR says the salary report totals are incorrect.",
    ),
    # Teams calls
    (
        "teams",
        "Software",
        "Teams calls drop after 5 minutes",
        "Every Teams call disconnects after about five minutes.",
    ),
    (
        "teams",
        "Software",
        "Microsoft Teams meeting audio cuts out",
        "Audio in Teams meetings cuts out and the call ends.",
    ),
    ("teams", "Network", "Teams call disconnected", "My Teams calls get disconnected mid meeting."),
    (
        "teams",
        "Software",
        "Calls in Teams keep dropping",
        "Teams video calls keep dropping for the whole team.",
    ),
    # Website 502
    ("web", "Software", "Customer portal returns 502", "The customer portal shows 502 Bad Gateway."),
    ("web", "Software", "502 Bad Gateway on portal", "Portal login page gives a 502 error."),
    (
        "web",
        "Network",
        "Portal down with gateway error",
        "Customers report the portal is down with a gateway error.",
    ),
    ("web", "Software", "Customer portal unavailable", "The portal is unavailable, nginx says bad gateway."),
    # Laptop battery
    ("battery", "Hardware", "Laptop battery drains quickly", "My laptop battery lasts one hour."),
    ("battery", "Hardware", "Battery does not hold charge", "The notebook battery empties very fast."),
    (
        "battery",
        "Hardware",
        "Laptop dies after an hour on battery",
        "Laptop shuts down after an hour unplugged.",
    ),
]

NOISE: list[tuple[str, str, str]] = [
    ("Hardware", "Monitor flickering", "My second screen flickers."),
    ("Access", "New starter needs an account", "Please create an account for our new colleague."),
    ("Software", "Install Visio", "I need Visio installed for a project."),
    ("Email", "Shared mailbox access request", "Please give me access to the finance shared mailbox."),
    ("Network", "Request a new network port", "Need a network port activated in room 204."),
    ("Hardware", "Keyboard keys stuck", "Some keys on my keyboard are stuck."),
    ("Software", "Excel crashes when opening file", "Excel closes when I open the budget file."),
    ("Access", "Reset my Windows password", "I forgot my Windows password."),
    ("Hardware", "Printer toner low on floor 5", "The floor 5 printer says toner low."),
    ("Network", "VPN access for contractor", "Please grant VPN access to our contractor."),
    ("Software", "Teams status stuck on away", "My Teams status always shows away."),
    ("Finance", "Expense report approval missing", "My expense report is not in the approval queue."),
    ("Software", "Update Chrome", "Chrome asks for an update but I have no rights."),
    ("Hardware", "Docking station not detected", "The dock is not detected by my laptop."),
    ("Email", "Out of office not working", "My automatic reply is not sent."),
    ("Software", "SAP report layout request", "Could the SAP sales report have an extra column?"),
    # Unrelated incidents filed through a form that adds the same boilerplate description.
    ("Email", "Mailbox full", "Submitted through the self-service form."),
    ("Access", "Account locked out", "Submitted through the self-service form."),
    ("Software", "Website down for customers", "Submitted through the self-service form."),
    ("Hardware", "Mouse not working", "Submitted through the self-service form."),
    ("Software", "Cannot open PDF files", "Submitted through the self-service form."),
    ("Network", "Need a guest wifi code", "Submitted through the self-service form."),
]


def gold_pairs(ids_by_label: dict[str, list[int]]) -> set[frozenset[int]]:
    pairs: set[frozenset[int]] = set()
    for ids in ids_by_label.values():
        for index, left in enumerate(ids):
            for right in ids[index + 1 :]:
                pairs.add(frozenset((left, right)))
    return pairs
