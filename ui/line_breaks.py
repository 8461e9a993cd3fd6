"""Where a Chinese line may break: never inside a word an elderly reader takes in whole.

Qt breaks CJK text between any two characters, so a narrow column showed "登/记" and "办/理" split
over two lines. :func:`keep_words_whole` puts a WORD JOINER (U+2060, invisible, forbids a break)
inside each word of :data:`WORDS` and inside dates and numbers; lines then break between words.
Pure; any thread.
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"

WORDS = (
    "养老金", "身份证", "读卡区", "读卡器", "工作人员", "人工窗口", "人工审核", "有效期", "宽限期", "认证", "登记",
    "办理", "审核", "摄像头", "屏幕", "椭圆框", "补发", "暂停", "发放", "恢复", "同意", "比对", "照片", "本人",
    "领取", "资格", "信息", "成功", "期限", "结束", "工作日", "通知", "凭条", "咨询", "拨打", "帮助", "您好",
    "一张", "一次", "一点", "一下", "两次",
)

_PATTERN = re.compile("|".join(sorted(map(re.escape, WORDS), key=len, reverse=True))
                      + r"|\d{4}年\d{1,2}月\d{1,2}日|\d+")


def keep_words_whole(text: str) -> str:
    """``text`` with a word joiner between the characters of each protected word, date and number."""
    return _PATTERN.sub(lambda m: WORD_JOINER.join(m.group(0)), text)


def plain(text: str) -> str:
    """``text`` without the word joiners (what the catalogue said)."""
    return text.replace(WORD_JOINER, "")
