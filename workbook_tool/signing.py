"""Template metadata, its canonical digest, and the HMAC-SHA256 signature.

The key lives on the office's desk (``.workbook-tool-secret``, git-ignored) or
in the WORKBOOK_TOOL_SECRET environment variable; it never enters a workbook.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

FORMAT_VERSION = "2"   # 2: 主要指标 gained 往年累计完成 (plan_cumulative indicators)
MARKER = "workbook-tool 模板标识"
META_SHEET = "_meta"
ENV_KEY = "WORKBOOK_TOOL_SECRET"


def load_key(secret_path: Path, create: bool = True) -> bytes:
    """The office key: from the environment, else the desk file (created on first use)."""
    env = os.environ.get(ENV_KEY)
    if env:
        return env.encode("utf-8")
    path = Path(secret_path)
    if path.is_file():
        return path.read_text(encoding="ascii").strip().encode("ascii")
    if not create:
        return b""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    return value.encode("ascii")


def canonical(meta: dict, rows: list) -> bytes:
    """The exact bytes that are signed: metadata (without the signature) and row records."""
    body = {"meta": {k: v for k, v in sorted(meta.items()) if k != "signature"}, "rows": rows}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(key: bytes, meta: dict, rows: list) -> str:
    return hmac.new(key, canonical(meta, rows), hashlib.sha256).hexdigest()


def verify(key: bytes, meta: dict, rows: list) -> bool:
    given = str(meta.get("signature", ""))
    return bool(key) and hmac.compare_digest(given, sign(key, meta, rows))


def nonce(key: bytes, county: str, period: str, unit: str, rows: list) -> str:
    """A deterministic id of one issued template (same inputs → same nonce)."""
    material = json.dumps([county, period, unit, rows], ensure_ascii=False, sort_keys=True)
    return hmac.new(key, b"nonce:" + material.encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def fingerprint(key: bytes) -> str:
    """A short public name of the key (an HMAC of a fixed text): the ledger keeps this, never the key."""
    return hmac.new(key, b"workbook-tool key fingerprint", hashlib.sha256).hexdigest()[:16]
