"""Which language a text is in: English, French, German, Spanish, Italian, Portuguese or Dutch.

The share of its first words that are among each language's most common function
words decides; below ``MIN_LANGUAGE_SHARE`` the answer is "unknown". These word
lists are also stopwords for keywords, so a recipe in French is not labelled "de, la".
"""

from __future__ import annotations

import re

LANGUAGE_SAMPLE_WORDS = 3000
MIN_LANGUAGE_SHARE = 0.08

LANGUAGE_WORDS = {
    language: frozenset(words.split())
    for language, words in {
        "en": "the and of to in is that it for was on are with as be this have from or by "
        "not but they you at which his her an were their will would there",
        "fr": "le la les et des du un une est que qui dans pour pas sur au ce il elle avec "
        "sont ne se plus par aux leur ou nous vous mais cette",
        "de": "der die das und ist nicht ein eine zu den von mit sich des auf für im dem "
        "auch es als wird sie ich nach bei aus noch oder",
        "es": "el la los las de que y en un una es por con no se del para al lo como más "
        "pero sus su le ya este esta muy",
        "it": "il la di che e è un una per non sono del della con le si da al ma gli dei "
        "nel anche come questo più alla delle",
        "pt": "o a os as de que e do da em um uma para com não se por mais dos das no na ao "
        "como mas foi ele ela são",
        "nl": "de het een en van is dat niet op te zijn met voor er maar ook als bij aan "
        "wordt dit die zo ik je we ze",
    }.items()
}

_WORD = re.compile(r"\w+")


def detect_language(text: str) -> str:
    """An ISO 639-1 code among en, fr, de, es, it, pt, nl; "unknown" if none fits."""
    words = [w.lower() for w in _WORD.findall(text)[:LANGUAGE_SAMPLE_WORDS]]
    if not words:
        return "unknown"
    hits = {lang: sum(w in common for w in words) for lang, common in LANGUAGE_WORDS.items()}
    best = max(hits, key=lambda lang: hits[lang])
    return best if hits[best] / len(words) >= MIN_LANGUAGE_SHARE else "unknown"
