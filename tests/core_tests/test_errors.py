"""An error in one line: the rule every user-facing message that quotes a library's error uses."""

from __future__ import annotations

import sqlite3

from nagexp.core.errors import first_line, first_text_line


def test_first_line_is_the_first_non_blank_line_cut_at_the_limit() -> None:
    page = sqlite3.OperationalError("\n  database or disk is full\nTraceback (most recent call last):\n  ...")
    assert first_line(page) == "database or disk is full"
    assert first_line(ValueError("x" * 500)) == "x" * 300
    assert first_line(ValueError("x" * 500), limit=10) == "x" * 10
    assert first_line(KeyboardInterrupt()) == "KeyboardInterrupt"  # says nothing: its type
    assert first_line(ValueError("  \n ")) == "ValueError"


def test_first_text_line_of_a_blank_message_is_empty() -> None:
    assert first_text_line("\n\nHTTP 500\n<html>") == "HTTP 500"
    assert first_text_line("   ") == ""
    assert first_text_line("abcdef", limit=3) == "abc"
