"""AWS Chatbot's custom-notification format (tests/golden/chatbot-custom-notification.schema.json):
the one check every chat message we send must pass, from poll-export, start-export and the
state machine's fallback alike."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "tests" / "golden" / "chatbot-custom-notification.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())


def problems(document: object) -> list[str]:
    """Every way `document` breaks the format (empty when Chatbot would render it)."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in validator.iter_errors(document)]


def https_form(structured_message: str) -> dict:
    """The chat form of a MessageStructure=json message: its `https` key, parsed."""
    return json.loads(json.loads(structured_message)["https"])
