"""The value of an answer to a problem whose answer is a number (GSM8K, AIME, your own number rows).

Models state numbers with units, currency and words around them: `"answer": "310 ounces"`,
`€77`, `10 miles per hour`, `The total cost of lemons is $15.`, `1,360 - 142 = 1,218`. The value
is read by one rule: the part after the last `=` / `≈` (an equation states its result last),
then the one number in it, currency, percent signs, units and words ignored. An answer naming
several numbers outside an equation ("29 large buttons and 63 small buttons") has no value here
(math-verify then decides, as for any other answer).
"""
from __future__ import annotations

import re
from fractions import Fraction

from collectkit.tasks.extraction import answer_key

# `=` / `≈` / `\approx`: what follows the last one is the equation's result.
RESULT_MARK = re.compile(r"=|≈|\\approx|\\simeq")
# LaTeX spacing, `\$`, `\%` and `\text{…}` wrappers dropped before reading.
LATEX_NOISE = re.compile(r"\\[,;:! ]|\\[$%]|\\(?:text|textbf|mathrm|mbox)\b")
# A number: thousands grouped by commas or by (thin) spaces, a decimal part, or a fraction `a/b`
# / `\frac{a}{b}`; a minus sign counts where no word or digit precedes it (`5-3` is two numbers).
NUMBER = re.compile(
    r"(?P<sign>(?<![\w.])[-−])?(?<![\w.])"
    r"(?:\\[dt]?frac\{(?P<num>\d+)\}\{(?P<den>\d+)\}"
    r"|(?P<int>\d{1,3}(?:,\d{3})+|\d{1,3}(?:[ \u00a0\u2009\u202f]\d{3})+|\d+)"
    r"(?P<frac>\.\d+)?(?:/(?P<over>\d+))?)(?![\d])"
)


def number_value(answer: str | None) -> Fraction | None:
    """The number an answer states, or None when it states none or several."""
    if not answer:
        return None
    plain = strict_number(answer)
    if plain is not None:
        return plain
    text = LATEX_NOISE.sub(" ", answer)
    last = None
    for last in RESULT_MARK.finditer(text):
        pass
    if last is not None and text[last.end():].strip():
        text = text[last.end():]
    found = list(NUMBER.finditer(text))
    if len(found) != 1:
        return None
    return _value(found[0])


def strict_number(answer: str) -> Fraction | None:
    """The value of an answer that is a number and nothing else ("1,000", "5%", "\\frac{1}{2}")."""
    key = answer_key(answer.replace(",", "").replace("\\%", "").rstrip("%"))
    return key if isinstance(key, Fraction) else None


def _value(number: re.Match) -> Fraction | None:
    sign = -1 if number.group("sign") else 1
    try:
        if number.group("num") is not None:
            return sign * Fraction(int(number.group("num")), int(number.group("den")))
        value = Fraction(re.sub(r"[^\d]", "", number.group("int")) + (number.group("frac") or ""))
        if number.group("over") is not None:
            value /= int(number.group("over"))
        return sign * value
    except (ValueError, ZeroDivisionError):  # a divisor 0, or more digits than Python converts
        return None
