#!/usr/bin/env python3
"""``make test``'s security checks: no committed secret, no known vulnerability in the pins.

1. detect-secrets scans every file git tracks (or would track): each finding must be listed in
   ``security-allowlist.toml`` with the reason it is not a secret.
2. pip-audit checks the pinned requirements against PyPI's vulnerability data: each finding must
   be listed there too, with the reason it is accepted.

Exit status 1 names what is neither fixed nor listed. ``--secrets-only`` / ``--deps-only`` run one
check. Runs without Django (no database needed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST = ROOT / "security-allowlist.toml"
REQUIREMENTS = ["requirements.txt", "requirements-dev.txt"]
# Not text: nothing for the scanner to read.
BINARY_SUFFIXES = {
    ".mo",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".webp",
    ".woff",
    ".woff2",
    ".ttf",
    ".pdf",
    ".zip",
    ".gz",
}


def load_allowlist() -> dict:
    with ALLOWLIST.open("rb") as handle:
        data = tomllib.load(handle)
    for group in data.get("secrets", []):
        if not group.get("reason", "").strip():
            raise SystemExit(f"{ALLOWLIST.name}: every [[secrets]] group needs a reason")
    for item in data.get("vulnerabilities", []):
        if not item.get("reason", "").strip() or not item.get("id"):
            raise SystemExit(f"{ALLOWLIST.name}: every [[vulnerabilities]] entry needs an id and a reason")
    return data


def tree_files() -> list[str]:
    """Tracked files and new ones not ignored: what the next commit could contain."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(
        {
            name
            for name in listed.split("\0")
            if name
            and name != ALLOWLIST.name  # hashes and reasons only
            and Path(name).suffix.lower() not in BINARY_SUFFIXES
            and (ROOT / name).is_file()
        }
    )


def check_secrets(allowlist: dict) -> list[str]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    accepted = {
        (finding["file"], finding["hash"])
        for group in allowlist.get("secrets", [])
        for finding in group.get("findings", [])
    }
    collection = SecretsCollection(root=str(ROOT))
    with default_settings():
        collection.scan_files(*tree_files())
    problems = []
    seen = set()
    for filename, secret in collection:
        key = (filename, secret.secret_hash)
        seen.add(key)
        if key not in accepted:
            problems.append(
                f"possible secret ({secret.type}) at {filename}:{secret.line_number}; if it is not one, list it:\n"
                f'    {{ file = "{filename}", type = "{secret.type}", hash = "{secret.secret_hash}" }},'
            )
    for filename, secret_hash in sorted(accepted - seen):
        problems.append(
            f"{ALLOWLIST.name} lists a finding that is gone (remove it): {filename} {secret_hash}"
        )
    return problems


def check_dependencies(allowlist: dict) -> list[str]:
    ignored = [item["id"] for item in allowlist.get("vulnerabilities", [])]
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    for requirements in REQUIREMENTS:
        # Every line is pinned with ==, so the pins are audited as written, without resolving.
        command += ["--requirement", str(ROOT / requirements)]
    command += ["--no-deps", "--disable-pip", "--timeout", "30"]
    for vulnerability in ignored:
        command += ["--ignore-vuln", vulnerability]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"pip-audit did not run: {result.stderr.strip()[-2000:]}"]
    problems = []
    skipped = []
    for dependency in report.get("dependencies", []):
        if dependency.get("skip_reason"):
            skipped.append(dependency["name"])
        for vulnerability in dependency.get("vulns", []):
            fixes = ", ".join(vulnerability.get("fix_versions") or []) or "none yet"
            problems.append(
                f"{dependency['name']}=={dependency['version']}: {vulnerability['id']} "
                f"(fixed in {fixes}); upgrade the pin, or list the id with a reason"
            )
    if skipped:
        print(f"pip-audit could not look up {len(skipped)} pin(s) on the index: {', '.join(skipped)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--secrets-only", action="store_true")
    only.add_argument("--deps-only", action="store_true")
    options = parser.parse_args()
    allowlist = load_allowlist()
    problems = []
    if not options.deps_only:
        problems += check_secrets(allowlist)
    if not options.secrets_only:
        problems += check_dependencies(allowlist)
    for problem in problems:
        print(problem)
    if problems:
        print(f"security check: {len(problems)} problem(s); see {ALLOWLIST.name}")
        return 1
    print("security check: nothing unlisted found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
