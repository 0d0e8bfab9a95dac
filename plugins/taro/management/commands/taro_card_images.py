"""Draws the card images of the tarot deck as SVG files under plugins/taro/static/taro/cards/.

The files are committed; run this again after changing the deck's names to redraw them.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from django.core.management.base import BaseCommand

from plugins.taro.deck import CARDS, MAJOR, CardData

OUTPUT = Path(__file__).resolve().parents[2] / "static" / "taro" / "cards"
ROMAN = [
    "0", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV",
    "XV", "XVI", "XVII", "XVIII", "XIX", "XX", "XXI",
]  # fmt: skip
# suit -> (background, accent, symbol drawn in the middle)
SUIT_STYLE = {
    "Wands": ("#fbeee0", "#b5541c", "wand"),
    "Cups": ("#e3eefb", "#1f5fa8", "cup"),
    "Swords": ("#eceff3", "#4a5568", "sword"),
    "Pentacles": ("#eef7e4", "#3f7a1f", "pentacle"),
}
MAJOR_STYLE = ("#f4ecfb", "#5b2a86")

SYMBOLS = {
    "wand": '<rect x="-6" y="-60" width="12" height="120" rx="6" fill="{c}"/>'
    '<circle cx="0" cy="-62" r="10" fill="{c}"/>',
    "cup": '<path d="M-40 -40 H40 Q40 20 0 25 Q-40 20 -40 -40 Z" fill="{c}"/>'
    '<rect x="-5" y="25" width="10" height="30" fill="{c}"/>'
    '<rect x="-25" y="52" width="50" height="8" rx="3" fill="{c}"/>',
    "sword": '<path d="M0 -70 L8 -50 V40 H-8 V-50 Z" fill="{c}"/>'
    '<rect x="-28" y="40" width="56" height="8" rx="3" fill="{c}"/>'
    '<rect x="-5" y="48" width="10" height="24" fill="{c}"/>',
    "pentacle": '<circle cx="0" cy="0" r="48" fill="none" stroke="{c}" stroke-width="6"/>'
    '<path d="M0 -40 L23.5 32.4 L-38 -12.4 H38 L-23.5 32.4 Z" fill="none" stroke="{c}" '
    'stroke-width="4"/>',
    "star": '<path d="M0 -60 L14 -18 L58 -18 L22 8 L36 50 L0 24 L-36 50 L-22 8 L-58 -18 '
    'L-14 -18 Z" fill="{c}"/>',
}


def card_svg(card: CardData) -> str:
    if card.arcana_type == MAJOR:
        background, accent = MAJOR_STYLE
        symbol, label = "star", ROMAN[card.number]
    else:
        background, accent, symbol = SUIT_STYLE[card.suit]
        label = card.rank if card.number > 10 else str(card.number)
    name = escape(card.name)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="400" viewBox="0 0 240 400" '
        f'role="img" aria-label="{name}">\n'
        f'<rect x="2" y="2" width="236" height="396" rx="16" fill="{background}" '
        f'stroke="{accent}" stroke-width="4"/>\n'
        f'<rect x="14" y="14" width="212" height="372" rx="10" fill="none" stroke="{accent}" '
        'stroke-width="1.5"/>\n'
        f'<text x="120" y="52" text-anchor="middle" font-family="Georgia, serif" font-size="24" '
        f'fill="{accent}">{escape(label)}</text>\n'
        f'<g transform="translate(120 200)">{SYMBOLS[symbol].format(c=accent)}</g>\n'
        f'<text x="120" y="360" text-anchor="middle" font-family="Georgia, serif" font-size="18" '
        f'fill="{accent}">{name}</text>\n'
        "</svg>\n"
    )


class Command(BaseCommand):
    help = "Draws the SVG image of every tarot card into plugins/taro/static/taro/cards/."

    def handle(self, *args, **options):
        OUTPUT.mkdir(parents=True, exist_ok=True)
        for card in CARDS:
            (OUTPUT / f"{card.slug}.svg").write_text(card_svg(card), encoding="utf-8")
        self.stdout.write(f"{len(CARDS)} card images written to {OUTPUT}")
