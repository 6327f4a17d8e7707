"""segmint.monitoring (see docs/architecture.md)."""

from segmint.monitoring._events import EventsResult, RescoreResult, ingest_events, rescore

__all__: list[str] = ["EventsResult", "RescoreResult", "ingest_events", "rescore"]
