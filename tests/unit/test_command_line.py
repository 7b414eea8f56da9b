"""The command line a run prints to resume (and a SQLite journal's holder records): no secret in
it, whether an option's value or a URL's password."""

from __future__ import annotations

import pytest

from bwmsg._privacy import command_line, hide_url_password

PW = "s3cret-pg-pw"


@pytest.mark.parametrize(
    ("arg", "shown"),
    [
        (f"postgresql://bw:{PW}@db:5432/bwmsg", "postgresql://bw:...@db:5432/bwmsg"),
        (f"postgres://bw:{PW}@db/bwmsg", "postgres://bw:...@db/bwmsg"),
        (f"POSTGRESQL://bw:{PW}@db/bwmsg", "POSTGRESQL://bw:...@db/bwmsg"),
        (f"--journal=postgresql://bw:{PW}@db/x", "--journal=postgresql://bw:...@db/x"),
        (
            f"postgresql://bw:p@ss{PW}@db/x?sslmode=require",
            "postgresql://bw:...@db/x?sslmode=require",
        ),
        (f"redis://:{PW}@cache:6379/0", "redis://:...@cache:6379/0"),
        (f"--redis=rediss://user:{PW}@cache/0", "--redis=rediss://user:...@cache/0"),
        ("postgresql://bw@db/bwmsg", "postgresql://bw@db/bwmsg"),
        ("postgresql://db/bwmsg", "postgresql://db/bwmsg"),
        ("run.db", "run.db"),
        ("Hi {name}: see https://example.com/a:b@c", "Hi {name}: see https://example.com/a:b@c"),
    ],
)
def test_a_url_password_is_hidden(arg: str, shown: str) -> None:
    """A URL's password, alone or after an option's '=', becomes '...'; nothing else changes."""
    assert hide_url_password(arg) == shown


def test_the_resume_command_hides_every_secret() -> None:
    """The journal's and Redis's passwords and --password's value are gone; the rest stays."""
    argv = [
        "/usr/bin/bwmsg",
        "campaign",
        "worker",
        "--journal",
        f"postgresql://bw:{PW}@db:5432/bwmsg",
        "--redis",
        f"redis://:{PW}@cache:6379/0",
        "--password",
        PW,
        "--rate",
        "50",
    ]
    line = command_line(argv)
    assert PW not in line
    assert line == (
        "bwmsg campaign worker --journal postgresql://bw:...@db:5432/bwmsg "
        "--redis redis://:...@cache:6379/0 --password ... --rate 50"
    )
