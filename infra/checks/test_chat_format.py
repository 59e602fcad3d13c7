"""Chatbot's custom-notification format: every chat document poll-export and start-export send
(tests/golden/chat-*.json, kept equal to the Rust output by export-core's chat tests) renders; the
schema itself refuses what Chatbot would drop. The state machine's fallback is checked in
test_asl_moto.py, the live messages of a real offline run in tests/e2e."""

import json

import pytest

import chatschema

GOLDEN = sorted(chatschema.SCHEMA_FILE.parent.glob("chat-*.json"))
KINDS = {"completed", "completed-with-errors", "failed", "cancelled", "deadline-passed", "workflow-failed",
         "start-failed", "incremental"}


def test_every_kind_of_message_has_a_golden_chat_document():
    assert {p.stem.removeprefix("chat-") for p in GOLDEN} == KINDS


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_each_golden_chat_document_is_chatbots_format(path):
    document = json.loads(path.read_text())
    assert chatschema.problems(document) == []
    assert document["content"]["title"] and document["content"]["nextSteps"]


def test_the_schema_allows_every_optional_member_chatbot_documents():
    """The admin guide's "Custom notifications" event schema: everything but version, source and
    content.description is optional, metadata.enableCustomActions included."""
    minimal = {"version": "1.0", "source": "custom", "content": {"description": "d"}}
    assert chatschema.problems(minimal) == []
    full = {
        "version": "1.0", "source": "custom", "id": "export-finished-0123",
        "content": {"textType": "client-markdown", "title": "t", "description": "d",
                    "nextSteps": ["n"], "keywords": ["k"]},
        "metadata": {"threadId": "th", "summary": "s", "eventType": "e", "relatedResources": ["r"],
                     "additionalContext": {"a": "b"}, "enableCustomActions": False},
    }
    assert chatschema.problems(full) == []
    assert chatschema.problems(dict(full, metadata=dict(full["metadata"], enableCustomActions="no")))


def test_each_golden_chat_document_has_its_own_id():
    ids = [json.loads(path.read_text()).get("id") for path in GOLDEN]
    assert all(ids) and len(set(ids)) == len(ids), ids


def test_the_schema_refuses_what_chatbot_drops():
    golden = json.loads((chatschema.SCHEMA_FILE.parent / "chat-completed.json").read_text())
    report = json.loads((chatschema.SCHEMA_FILE.parent / "notification-v1-completed.json").read_text())
    assert chatschema.problems(report), "our JSON report is not a chat message"
    for broken in (
        dict(golden, version=1),
        dict(golden, source="healthlake"),
        {k: v for k, v in golden.items() if k != "content"},
        dict(golden, content=dict(golden["content"], textType="markdown")),
        dict(golden, metadata=dict(golden["metadata"], additionalContext={"attempts": 3})),
        dict(golden, extra="field"),
    ):
        assert chatschema.problems(broken), broken
