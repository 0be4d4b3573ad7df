"""Each connection's automation state: when the automatic retrieve last ran, and each send flow's Fusion cursor
with the entities met within its overlap (``qbwc_automation_state``); and the Fusion webhook events taken
(``qbwc_webhook_events``). This module is the only writer of both."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qbwc_service.db.models import AutomationState, WebhookEvent

RETRIEVE = "retrieve"


def state_of(db: Session, connection_id: int, name: str) -> AutomationState:
    """The row of ``name`` for the connection, made when missing (by one process when several race)."""
    found = db.scalar(select(AutomationState).where(AutomationState.connection_id == connection_id,
                                                    AutomationState.name == name))
    if found is not None:
        return found
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.execute(insert(AutomationState).values(connection_id=connection_id, name=name)
               .on_conflict_do_nothing(index_elements=["connection_id", "name"]))
    made = db.scalar(select(AutomationState).where(AutomationState.connection_id == connection_id,
                                                   AutomationState.name == name))
    assert made is not None
    return made


def take_event(db: Session, connection_id: int, event_id: str, now: datetime) -> bool:
    """Record a webhook event as taken; False when it was taken before (a replay)."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    taken = db.execute(insert(WebhookEvent).values(connection_id=connection_id, event_id=event_id, received_at=now)
                       .on_conflict_do_nothing(index_elements=["connection_id", "event_id"])
                       .returning(WebhookEvent.id)).first()
    return taken is not None


def event_taken(db: Session, connection_id: int, event_id: str) -> bool:
    return db.scalar(select(WebhookEvent.id).where(WebhookEvent.connection_id == connection_id,
                                                   WebhookEvent.event_id == event_id)) is not None


def forget_events_before(db: Session, moment: datetime) -> int:
    """Events older than the webhook's tolerance can go: a replay of one is refused for its age."""
    result = db.execute(delete(WebhookEvent).where(WebhookEvent.received_at < moment)
                        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def forget_all(db: Session, connection_id: int) -> None:
    """The connection is being deleted."""
    db.execute(delete(AutomationState).where(AutomationState.connection_id == connection_id))
    db.execute(delete(WebhookEvent).where(WebhookEvent.connection_id == connection_id))
