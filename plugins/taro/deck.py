"""The 78 cards of a standard tarot deck: 22 major arcana and four suits of 14 minor arcana.

Plain data (no models), so the migration that loads the deck and the command that draws the
card images read the same list. Meanings are this project's own short texts; staff may edit them
in the back office after the deck is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

MAJOR = "MAJOR_ARCANA"
MINOR = "MINOR_ARCANA"


@dataclass(frozen=True)
class CardData:
    id: int  # 1–78, stable: the primary key of the loaded card
    slug: str  # the image file name, without ".svg"
    name: str
    number: int | None  # 0–21 for the major arcana, 1–14 within a suit
    suit: str | None
    rank: str | None
    arcana_type: str
    upright_meaning: str
    reversed_meaning: str


# (name, upright, reversed), numbered 0–21 in this order.
_MAJOR_ARCANA = [
    ("The Fool", "A fresh start taken with an open heart; trust the first step.",
     "Carelessness or a leap taken without looking; pause before you jump."),
    ("The Magician", "The tools are in your hands; focus turns intention into action.",
     "Scattered effort or a clever trick; check whose purpose the skill serves."),
    ("The High Priestess", "Quiet knowing; listen to what lies beneath the surface.",
     "Ignored intuition or secrets kept too long; make room for stillness."),
    ("The Empress", "Growth, care and abundance; let things ripen in their own time.",
     "Smothering or neglect; tend to yourself before tending to others."),
    ("The Emperor", "Structure and steady leadership; set the rules and keep them.",
     "Rigid control or absent authority; loosen the grip or take the reins."),
    ("The Hierophant", "Tradition, teaching and shared values; learn from those before you.",
     "Questioning the rules; find your own way through inherited beliefs."),
    ("The Lovers", "A meaningful bond or a choice made from the heart.",
     "Misaligned values or a choice avoided; be honest about what you want."),
    ("The Chariot", "Willpower that pulls opposing forces in one direction; move ahead.",
     "Loss of direction or a fight with yourself; steady the reins first."),
    ("Strength", "Gentle courage and patience master what force cannot.",
     "Self-doubt or temper; find the calm strength you already have."),
    ("The Hermit", "Time alone to look inward; a lantern for the path ahead.",
     "Isolation that has gone on too long; return and share what you found."),
    ("Wheel of Fortune", "Cycles turn; a change of luck arrives, meet it openly.",
     "Resisting change or a run of bad timing; what goes down comes up again."),
    ("Justice", "Fairness, truth and consequences; decisions weighed with care.",
     "An imbalance or an avoided responsibility; set the record straight."),
    ("The Hanged Man", "Pause and see from another angle; surrender brings insight.",
     "Stalling or a sacrifice that serves no one; it is time to move."),
    ("Death", "An ending that clears the ground for something new.",
     "Clinging to what has already passed; let the old chapter close."),
    ("Temperance", "Balance, moderation and patience blend opposites into harmony.",
     "Excess or impatience; restore the measure in what you do."),
    ("The Devil", "Attachments and habits that bind; see the chain for what it is.",
     "Breaking free; a hold loosens once it is named."),
    ("The Tower", "Sudden upheaval that topples what was built on sand.",
     "A disaster narrowly avoided or change resisted; rebuild on firmer ground."),
    ("The Star", "Hope, healing and calm renewal after the storm.",
     "Discouragement; the light is still there, look up again."),
    ("The Moon", "Uncertainty, dreams and illusions; walk carefully in the half light.",
     "Confusion lifting; what was hidden comes to light."),
    ("The Sun", "Joy, clarity and warmth; success shines openly.",
     "A cloud over the sun; the joy is delayed, not gone."),
    ("Judgement", "A wake-up call; reckon with the past and rise renewed.",
     "Self-criticism or an unanswered call; forgive and listen again."),
    ("The World", "Completion and wholeness; a journey comes full circle.",
     "Loose ends remain; finish what you started before the next step."),
]  # fmt: skip

# suit -> (its element's theme, upright tone, reversed tone)
_SUITS = {
    "Wands": ("energy, ambition and creative fire", "passion", "burnout"),
    "Cups": ("feelings, relationships and intuition", "emotional openness", "emotional blockage"),
    "Swords": ("thought, truth and conflict", "clear thinking", "mental strain"),
    "Pentacles": ("work, money and the body", "practical growth", "material worry"),
}

# rank -> (upright sense, reversed sense), numbered 1–14 in this order.
_RANKS = [
    ("Ace", "a seed of new potential", "a promise delayed or wasted"),
    ("Two", "a choice or a partnership taking shape", "indecision or an uneven exchange"),
    ("Three", "early growth and collaboration", "plans that stall for lack of support"),
    ("Four", "stability and a moment of rest", "stagnation or holding on too tightly"),
    ("Five", "challenge, loss or friction that tests you", "recovery after a struggle"),
    ("Six", "harmony restored and help given or received", "an imbalance in giving and taking"),
    ("Seven", "perseverance and a test of resolve", "doubt or a strategy that no longer works"),
    ("Eight", "movement, skill and steady effort", "frustration or effort misdirected"),
    ("Nine", "near-fulfilment and resilience", "anxiety or a last hurdle that looms large"),
    ("Ten", "a cycle completed, its rewards and burdens", "a load carried too far"),
    ("Page", "curiosity and a message or lesson arriving", "immaturity or news that unsettles"),
    ("Knight", "bold action and pursuit", "haste, or momentum without direction"),
    ("Queen", "mature care and inner mastery", "insecurity or care turned inward too far"),
    ("King", "authority and mastery directed outward", "control used carelessly or withheld"),
]


def _slug(name: str) -> str:
    return name.lower().replace("the ", "").replace(" ", "-")


def _build() -> list[CardData]:
    cards = [
        CardData(
            id=number + 1,
            slug=f"major-{number:02d}-{_slug(name)}",
            name=name,
            number=number,
            suit=None,
            rank=None,
            arcana_type=MAJOR,
            upright_meaning=upright,
            reversed_meaning=reversed_,
        )
        for number, (name, upright, reversed_) in enumerate(_MAJOR_ARCANA)
    ]
    for suit_index, (suit, (theme, tone, shadow)) in enumerate(_SUITS.items()):
        for rank_index, (rank, upright, reversed_) in enumerate(_RANKS):
            cards.append(
                CardData(
                    id=len(_MAJOR_ARCANA) + suit_index * len(_RANKS) + rank_index + 1,
                    slug=f"{suit.lower()}-{rank_index + 1:02d}-{rank.lower()}",
                    name=f"{rank} of {suit}",
                    number=rank_index + 1,
                    suit=suit,
                    rank=rank,
                    arcana_type=MINOR,
                    upright_meaning=(
                        f"{upright.capitalize()} in matters of {theme}; {tone} leads the way."
                    ),
                    reversed_meaning=(
                        f"{reversed_.capitalize()} in matters of {theme}; beware of {shadow}."
                    ),
                )
            )
    return cards


CARDS: list[CardData] = _build()
