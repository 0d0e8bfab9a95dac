"""Questions a lower app asks and a higher app answers.

Dependencies point down (the catalog never imports subscriptions), yet a lower app sometimes
needs a fact only a higher one knows: may this plan be deleted, how many subscribers does it
have, has this user any invoices. The lower app declares a :class:`Question` with a
``typing.Protocol`` describing the answer; the higher app registers its answer from its
``AppConfig.ready()``; the lower app asks the question and never learns who answered.

- A question with ``many=False`` takes at most one answer; a second, different answer is a
  configuration error. Asked while unanswered it returns its ``fallback`` when one was declared
  (what holds while the answering app is not installed) and raises :class:`Unanswered` otherwise.
- A question with ``many=True`` collects every registered answer (counters that are summed).
- Answers are registered while the app registry starts up; registering later (at import time of a
  module loaded afterwards, or from a request) is refused, so every answer is visible in an
  ``AppConfig.ready()``. Tests swap answers with :meth:`Question.answered_by`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

AnswerT = TypeVar("AnswerT")

_NO_FALLBACK: Any = object()


class Unanswered(ImproperlyConfigured):
    """A question without a fallback was asked and no installed app answers it."""


class Question(Generic[AnswerT]):
    """One question of a lower app; see the module docstring."""

    def __init__(
        self,
        name: str,
        protocol: type[AnswerT],
        *,
        many: bool = False,
        fallback: Any = _NO_FALLBACK,
    ) -> None:
        if many and fallback is not _NO_FALLBACK:
            raise ValueError(f"Question {name!r}: a many-answer question has no fallback")
        self.name = name
        self.protocol = protocol
        self.many = many
        self._fallback = fallback
        self._answers: list[AnswerT] = []

    def __repr__(self) -> str:
        return f"<Question {self.name}>"

    def register(self, answer: AnswerT) -> None:
        """Adds ``answer``; only from an ``AppConfig.ready()``. Registering it again is a no-op."""
        if apps.ready:
            raise ImproperlyConfigured(
                f"{self.name}: answers are registered in AppConfig.ready(), not after start-up"
            )
        self._add(answer)

    def answer(self) -> AnswerT:
        """The one answer, the fallback when nobody answers, else :class:`Unanswered`."""
        if self.many:
            raise TypeError(f"{self.name} takes many answers: use answers()")
        if self._answers:
            return self._answers[0]
        if self._fallback is _NO_FALLBACK:
            raise Unanswered(
                f"No installed app answers {self.name}: register an answer in the answering "
                "app's AppConfig.ready()"
            )
        return self._fallback

    def answers(self) -> tuple[AnswerT, ...]:
        """Every registered answer, in registration order."""
        return tuple(self._answers)

    @contextmanager
    def answered_by(self, answer: AnswerT) -> Iterator[AnswerT]:
        """For tests: ``answer`` replaces a one-answer question's answer, or joins a many-answer
        question's answers, until the block ends."""
        saved = list(self._answers)
        if not self.many:
            self._answers.clear()
        try:
            self._add(answer)
            yield answer
        finally:
            self._answers[:] = saved

    def _add(self, answer: AnswerT) -> None:
        if not _implements(answer, self.protocol):
            raise TypeError(f"{self.name}: {answer!r} does not implement {self.protocol.__name__}")
        if answer in self._answers:
            return
        if self._answers and not self.many:
            raise ImproperlyConfigured(
                f"{self.name} has two answers: {self._answers[0]!r} and {answer!r}"
            )
        self._answers.append(answer)


def _implements(answer: Any, protocol: type) -> bool:
    """Checks what can be checked at run time: runtime-checkable protocols by their members,
    call-only protocols by the answer being callable."""
    if getattr(protocol, "_is_runtime_protocol", False):
        return isinstance(answer, protocol)
    if "__call__" in getattr(protocol, "__dict__", {}):
        return callable(answer)
    return True
