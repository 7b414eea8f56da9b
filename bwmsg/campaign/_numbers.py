"""National numbers to E.164 (``--default-country``), by Google's libphonenumber rules.

Spreadsheets hold numbers as people write them (``919-555-0499``, ``(919) 555-0499``); the API
takes E.164 only. With a default country, a number without a leading ``+`` is parsed as that
country's and written in E.164 when it is a valid number there; anything else is left as it
is, so that the message's own check names it. The parsing is the ``phonenumbers`` package's
(the ``phone`` extra: ``pip install 'bwmsg[phone]'``), not rules of our own.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["check_country", "to_e164"]

INSTALL_HINT = "pip install 'bwmsg[phone]'"


def _library() -> ModuleType:
    try:
        return importlib.import_module("phonenumbers")
    except ImportError:
        raise ValueError(
            f"a default country needs the phonenumbers package: {INSTALL_HINT}"
        ) from None


def check_country(country: str) -> str:
    """``country`` as an upper-case ISO 3166 region code libphonenumber knows; ValueError
    naming the supported form otherwise."""
    code = country.strip().upper()
    if code not in _library().SUPPORTED_REGIONS:
        raise ValueError(
            f"default country {country!r} is not a two-letter region code such as US, CA or GB"
        )
    return code


def to_e164(number: str, country: str) -> str:
    """``number`` in E.164 when it is a valid national number of ``country``, else as given."""
    if number.startswith("+"):
        return number
    library = _library()
    try:
        parsed = library.parse(number, country)
    except library.NumberParseException:
        return number
    if not library.is_valid_number(parsed):
        return number
    return str(library.format_number(parsed, library.PhoneNumberFormat.E164))
