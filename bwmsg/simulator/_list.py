"""The list endpoint's items (``GET .../messages``) and its filters, as the service reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from ._dates import read_iso8601
from ._records import AcceptedMessage

__all__ = ["list_filter", "list_items"]


def _number_filter(value: str) -> Callable[[str], bool]:
    numbers = [n.strip() for n in value.split(",") if n.strip()]
    if len(numbers) == 1 and len(numbers[0]) >= 5:
        part = numbers[0]
        return lambda tn: part in tn
    if not numbers or len(numbers) > 10:
        raise ValueError(f"bad phone number filter {value!r}")
    wanted = set(numbers)
    return lambda tn: tn in wanted


def list_filter(query: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate over list items for the query's filters; ValueError for a bad filter."""
    exact = {
        key: query[key]
        for key in ("messageId", "messageStatus", "messageDirection", "messageType")
        if key in query
    }
    numbers = {
        key: _number_filter(query[key]) for key in ("sourceTn", "destinationTn") if key in query
    }
    code = int(query["errorCode"]) if "errorCode" in query else None
    since = _parse_time(query["fromDateTime"]) if "fromDateTime" in query else None
    until = _parse_time(query["toDateTime"]) if "toDateTime" in query else None

    def match(item: dict[str, Any]) -> bool:
        if any(item.get(key) != want for key, want in exact.items()):
            return False
        if any(not check(item[key]) for key, check in numbers.items()):
            return False
        if code is not None and item.get("errorCode") != code:
            return False
        if since is not None or until is not None:
            received = _parse_time(item["receiveTime"])
            if since is not None and received < since:
                return False
            if until is not None and received > until:
                return False
        return True

    return match


def _parse_time(value: str) -> datetime:
    when = read_iso8601(value)
    if when is None:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    return when


def list_items(
    accepted: Iterable[AcceptedMessage], decided: Mapping[str, Mapping[str, int | None]]
) -> Iterator[dict[str, Any]]:
    """The list endpoint's item for each recipient of each accepted message."""
    for record in accepted:
        message = record.message
        outcome = decided.get(record.id, {})
        media = message.get("media") or []
        for recipient in record.to:
            item: dict[str, Any] = {
                "messageId": record.id,
                "accountId": record.account_id,
                "sourceTn": message["from"],
                "destinationTn": recipient,
                "messageStatus": "SENT",
                "messageDirection": "OUTBOUND",
                "messageType": "mms" if media else "sms",
                "segmentCount": message["segmentCount"],
                "receiveTime": message["time"],
                "carrierName": None,
                "messageLength": len(message.get("text") or ""),
                "attachmentCount": len(media),
                "recipientCount": len(record.to),
            }
            if recipient in outcome:
                code = outcome[recipient]
                item["messageStatus"] = "DELIVERED" if code is None else "FAILED"
                if code is not None:
                    item["errorCode"] = code
            yield item
