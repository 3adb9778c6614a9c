"""A browser's family from its User-Agent: enough to tell a new device from a known one, no versions."""

from __future__ import annotations

import re

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = [
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Firefox", re.compile(r"\bFirefox/|\bFxiOS/")),
    ("Chrome", re.compile(r"(\b|Headless)Chrome/|\bCriOS/|\bChromium/")),
    ("Safari", re.compile(r"\bSafari/")),
    ("curl", re.compile(r"^curl/")),
    ("Python", re.compile(r"python-requests|python-httpx|^Python-urllib", re.IGNORECASE)),
]
_SYSTEMS = [
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\biPhone|\biPad|\biPod")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
]


def family(user_agent: str) -> str:
    """``"Firefox (Linux)"``, ``"Safari (iOS)"``, ``"curl"``; ``""`` when there is no User-Agent.
    Names only, no words: the same text reads in every language."""
    user_agent = user_agent.strip()
    if not user_agent:
        return ""
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), "Other")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "")
    return f"{browser} ({system})" if system else browser
