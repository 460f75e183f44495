"""身份证号 (resident ID numbers): checked, then kept only as a keyed hash (PIPL).

A roster import recognises a person it has seen before by the hash; the number itself is never
stored, logged or sent back. The key is a setting (ID_NUMBER_KEY, else derived from SECRET_KEY),
never a value in the database: there are few enough valid ID numbers to hash every one, so a
plain or database-salted hash would give the numbers back to whoever copies the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

from flask import current_app
from marshmallow import ValidationError

#: GB 11643-1999: weights of the first 17 digits, and the check character for each sum mod 11.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")
ID_NUMBER_MESSAGE = "请填写 18 位身份证号"


def load_id_number(value) -> str | None:
    """Blank means none; otherwise an 18-character mainland ID number whose birth date is a real
    day and whose check character agrees (a lower-case x is read as X). Numbers stored as Excel
    numbers have lost their last digits, so anything that is not text is refused."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError("身份证号须以文本填写（数字格式会丢失末几位）")
    number = value.strip().upper()
    if not _SHAPE.match(number):
        raise ValidationError(ID_NUMBER_MESSAGE)
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError("身份证号中的出生日期不存在") from None
    if _CHECK[sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True)) % 11] != number[17]:
        raise ValidationError("身份证号校验位不对，请核对")
    return number


def _key() -> bytes:
    configured = current_app.config.get("ID_NUMBER_KEY")
    if configured:
        return configured.encode()
    # Domain-separated from the session signatures that also use SECRET_KEY.
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"sanwei id-number key", hashlib.sha256).digest()


def id_number_hash(number: str) -> str:
    """HMAC-SHA256 (hex) of a number load_id_number accepted: what people.id_number_hash holds."""
    return hmac.new(_key(), number.encode(), hashlib.sha256).hexdigest()
