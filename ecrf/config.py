"""Configuration from the environment, with a SQLite file in the instance folder by default."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def from_environment(instance_path: str) -> dict[str, Any]:
    """Read DATABASE_URL, ECRF_SECRET_KEY, ECRF_TOKEN_TTL, ECRF_SIGNING_KEY,
    ECRF_WITNESS_FILE and ECRF_TRUSTED_PROXIES, with working defaults."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    signing_key = os.environ.get("ECRF_SIGNING_KEY")
    return {
        # The event-signing key stays outside the database; without ECRF_SIGNING_KEY, serve
        # and demo create one in the instance folder on first start.
        "SIGNING_KEY_FILE": signing_key or str(Path(instance_path) / "signing_key.pem"),
        "SIGNING_KEY_CREATE": not signing_key,
        "WITNESS_FILE": os.environ.get("ECRF_WITNESS_FILE")
        or str(Path(instance_path) / "checkpoints.jsonl"),
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", f"sqlite:///{Path(instance_path) / 'ecrf.db'}"
        ),
        "SECRET_KEY": os.environ.get("ECRF_SECRET_KEY") or _instance_secret(instance_path),
        "TOKEN_TTL_SECONDS": int(os.environ.get("ECRF_TOKEN_TTL", "3600")),
        "TRUSTED_PROXIES": int(os.environ.get("ECRF_TRUSTED_PROXIES", "0")),
    }


def _instance_secret(instance_path: str) -> str:
    """Keep one random signing key per instance, so tokens survive a restart."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
