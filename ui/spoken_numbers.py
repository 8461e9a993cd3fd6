"""Numbers and dates in Chinese words, as the voice says them and the screen shows them.

Kept apart from the message catalogue so the rules of spoken Chinese numerals (十二, 一百零五, a
year read digit by digit) are tested on their own. Pure functions; any thread.
"""

from __future__ import annotations

from datetime import date

DIGITS = "零一二三四五六七八九"
"""The ten digit words, index = digit."""


def chinese_number(n: int) -> str:
    """``n`` (0 to 99 999 999) in Chinese numerals as spoken: 10 十, 12 十二, 105 一百零五, 2000 二千
    (二, not 两, keeps the engine's reading predictable). Raises ValueError outside that range."""
    if not 0 <= n <= 99_999_999:
        raise ValueError(f"number out of range for words: {n}")
    if n < 10:
        return DIGITS[n]
    if n >= 10_000:
        high, low = divmod(n, 10_000)
        rest = "" if low == 0 else ("零" if low < 1000 else "") + chinese_number(low)
        return chinese_number(high) + "万" + rest
    words = ""
    zero_pending = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = (n // value) % 10
        if digit == 0:
            zero_pending = bool(words)
            continue
        if zero_pending:
            words += "零"
            zero_pending = False
        words += ("" if (unit == "十" and digit == 1 and not words) else DIGITS[digit]) + unit
    return words


def year_words(year: int) -> str:
    """A year read digit by digit, as people say it: 2027 → 二零二七年."""
    return "".join(DIGITS[int(ch)] for ch in str(year)) + "年"


def date_words(day: date) -> str:
    """A date as spoken words: 2027-05-20 → 二零二七年五月二十日 (engines misread "2027年")."""
    return f"{year_words(day.year)}{chinese_number(day.month)}月{chinese_number(day.day)}日"


def date_display(day: date) -> str:
    """A date for the screen, in large Arabic digits elders read fastest: 2027年5月20日."""
    return f"{day.year}年{day.month}月{day.day}日"


def count_words(n: int) -> str:
    """A count before a measure word (次, 个月): 2 is 两 (再试两次, never 再试二次); otherwise as
    :func:`chinese_number` (12 stays 十二)."""
    return "两" if n == 2 else chinese_number(n)


PHONE_DIGITS = "幺二三四五六七八九"
"""Digits of a telephone number as said aloud: 1 is 幺 (yāo), so 12333 is 幺二三三三."""


def phone_words(number: str) -> str:
    """A telephone number (ASCII digits) as said aloud, digit by digit: 12333 → 幺二三三三."""
    return "".join("零" if ch == "0" else PHONE_DIGITS[int(ch) - 1] for ch in number)


def spoken_text(text: str) -> str:
    """The catalogue's screen text as the voice must say it: digit runs of three or more (the
    hotline 12333) are read digit by digit as a telephone number."""
    import re

    return re.sub(r"[0-9]{3,}", lambda m: phone_words(m.group(0)), text)
