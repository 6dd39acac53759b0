"""The demo target's WebSocket messages: what it takes, what it refuses and how it says so."""

from __future__ import annotations

import json

import pytest

from loadtest.demo_target.realtime import MAX_MESSAGE_BYTES, MessageError, parse, price_of


def test_the_three_operations_are_taken_with_their_fields() -> None:
    assert parse('{"op": "quote", "id": "1", "symbol": "P7"}') == {"op": "quote", "id": "1", "symbol": "P7"}
    assert parse('{"op": "subscribe", "channel": "prices", "interval_ms": 250}')["interval_ms"] == 250
    assert parse('{"op": "subscribe", "channel": "prices"}')["channel"] == "prices"  # the default pace
    assert parse('{"op": "unsubscribe", "channel": "prices"}')["op"] == "unsubscribe"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "message: not JSON"),
        ("[1, 2]", "message: list, not an object"),
        ('{"op": "buy"}', "op: 'buy' is not an operation; use 'quote', 'subscribe' or 'unsubscribe'"),
        ('{"op": "quote"}', "symbol: None; send a product symbol such as 'P123'"),
        ('{"op": "quote", "symbol": ""}', "symbol: ''"),
        ('{"op": "subscribe", "channel": "news"}', "channel: 'news' is not a channel; use one of ['prices']"),
        ('{"op": "subscribe", "channel": "prices", "interval_ms": 5}', "interval_ms: 5; send a whole number"),
        ('{"op": "subscribe", "channel": "prices", "interval_ms": true}', "interval_ms: True"),
        ('{"op": "subscribe", "channel": "prices", "interval_ms": 2.5}', "interval_ms: 2.5"),
    ],
)
def test_a_bad_message_is_refused_naming_the_field_the_value_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(MessageError) as caught:
        parse(text)
    assert says in str(caught.value)


def test_an_oversized_message_is_refused_before_it_is_parsed() -> None:
    text = json.dumps({"op": "quote", "symbol": "P1", "pad": "x" * MAX_MESSAGE_BYTES})
    with pytest.raises(MessageError, match=f"send at most {MAX_MESSAGE_BYTES}"):
        parse(text)


def test_prices_are_stable_per_symbol_and_drift_with_the_feed() -> None:
    assert price_of("P7") == price_of("P7") and price_of("P7") != price_of("P8")
    assert price_of("P7", 0) != price_of("P7", 3)
    assert all(4.9 < price_of(f"P{i}", seq) < 1006 for i in range(50) for seq in range(0, 40, 7))
