"""The deny list: files that hold credentials never enter a build context, whatever the
whitelist or git says. Matching is on the path's last components, case-insensitive."""

from __future__ import annotations

import fnmatch

# A file with one of these names, anywhere.
NAMES = frozenset(
    {
        ".netrc",
        "_netrc",
        ".git-credentials",
        ".envrc",
        ".env",
        ".npmrc",
        ".pypirc",
        ".pgpass",
        ".my.cnf",
        ".htpasswd",
        ".vault-token",
        ".dockercfg",
        ".boto",
        ".s3cfg",
        "credentials",
        "credentials.json",
        "credentials.yaml",
        "credentials.yml",
        "secrets.json",
        "secrets.yaml",
        "secrets.yml",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
    }
)
# A file whose name matches one of these globs, anywhere (public keys are let through).
GLOBS = (
    ".env.*",
    "*.env",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.p12",
    "*.pfx",
    "*.pem",
    "*.key",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.tfstate",
    "*.tfvars",
)
PUBLIC = (".pub",)
# Any file inside a folder of one of these names.
FOLDERS = frozenset({".ssh", ".gnupg", ".aws", ".azure"})
# A file at the end of one of these paths (the configuration of cloud tools).
PATHS = (
    (".docker", "config.json"),
    (".kube", "config"),
    ("gcloud", "credentials.db"),
    ("gcloud", "application_default_credentials.json"),
)


def credential_reason(path: str) -> str | None:
    """Why path (relative, '/'-separated) looks like a credential file, or None."""
    parts = path.lower().split("/")
    name = parts[-1]
    if name in NAMES:
        return f"its name {parts[-1]!r} is a credential file's"
    if not name.endswith(PUBLIC):
        for glob in GLOBS:
            if fnmatch.fnmatchcase(name, glob):
                return f"its name matches {glob!r}, a credential file's"
    for folder in parts[:-1]:
        if folder in FOLDERS:
            return f"it is inside a {folder!r} folder, which holds credentials"
    for tail in PATHS:
        if tuple(parts[-len(tail) :]) == tail:
            return f"it is {'/'.join(tail)}, a credential file"
    return None
