"""A model's vocabulary: the content words of its training captions, and the words of a prompt
outside it.

The text encoder is general (MiniLM knows "piano"), the DiT is not: it learned only what its
captions named. A pipeline folder may declare that vocabulary (`model_index.json`,
`vocabulary`); a prompt whose content words fall outside it still runs, with a warning naming
them (`UnknownWordsWarning`). Content words: lowercase letters, punctuation and possessives
stripped, numerals and `STOP_WORDS` ignored; a plural ("circles") counts as its singular.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from pathlib import Path

# English function words (articles, pronouns, prepositions, conjunctions, auxiliaries,
# quantifiers). Written out rather than taken from scikit-learn's list, which is no dependency of
# ours and names content words of this world as stop words ("move", "up", "down", "behind").
_STOP = """a an the this that these those some any each every all both either neither no not nor
    and or but so yet if then than as of at by for from in into onto on off over under to
    toward towards with without within upon about above below across along around through
    during before after between among near beside past via per
    i me my mine we us our ours you your yours he him his she her hers it its they them their
    theirs one ones who whom whose which what where when why how there here
    is am are was were be been being do does did doing done have has had having
    can could may might must shall should will would
    very too also just only quite rather really much many more most few less least
    such same other another own again ever
    while until because although though whether
    s t"""
STOP_WORDS = frozenset(_STOP.split())

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class ChronotopeWarning(UserWarning):
    """Base of the warnings a generation call gives (the call still runs)."""


class UnknownWordsWarning(ChronotopeWarning):
    """A prompt names words the model never learned (see `ChronotopePipeline.unknown_words`)."""


class ScaleWarning(ChronotopeWarning):
    """A condition far from the model's scale: the output size was chosen for it."""


def content_words(text: str) -> list[str]:
    """The content words of `text` in order, each once: lowercase, without punctuation,
    possessives ('s), numerals or stop words."""
    out: list[str] = []
    for token in _WORD.findall(text.lower()):
        word = token.split("'")[0]
        numeral = any(c.isdigit() for c in word)
        if word and not numeral and word not in STOP_WORDS and word not in out:
            out.append(word)
    return out


def vocabulary_of(captions: Iterable[str]) -> frozenset[str]:
    """The content words of a set of captions."""
    return frozenset(w for caption in captions for w in content_words(caption))


def unknown_words(prompt: str, vocabulary: frozenset[str] | None) -> list[str]:
    """Content words of `prompt` outside `vocabulary` (none when there is no vocabulary); a
    plural whose singular is known is known."""
    if vocabulary is None:
        return []
    return [w for w in content_words(prompt) if not _known(w, vocabulary)]


def _known(word: str, vocabulary: frozenset[str]) -> bool:
    if word in vocabulary:
        return True
    return (word.endswith("s") and word[:-1] in vocabulary) or (
        word.endswith("es") and word[:-2] in vocabulary
    )


def unknown_words_message(words: list[str]) -> str:
    listed = ", ".join(f"'{w}'" for w in words)
    return (
        f"the model never learned {listed}: its training captions do not name "
        f"{'it' if len(words) == 1 else 'them'}, so the video may not show "
        f"{'it' if len(words) == 1 else 'them'}"
    )


def warn_unknown(prompts: Iterable[str], vocabulary: frozenset[str] | None) -> list[str]:
    """The unknown-word messages of `prompts` (one per prompt that has any)."""
    return [unknown_words_message(w) for p in prompts if (w := unknown_words(p, vocabulary))]


def world_vocabulary() -> frozenset[str]:
    """The content words of every caption the world's training phrasebook can produce
    (`world.captions.TRAINING`; the reserved phrasings of the eval are not among them)."""
    from chronotope.world.captions import TRAINING
    from chronotope.world.vocab import COLORS, DIRECTIONS, SHAPES

    book = TRAINING
    phrases: list[str] = [*COLORS, *SHAPES, *DIRECTIONS]
    for finite, participle in book.motions.values():
        phrases += [*finite, *participle]
    for forms in (*book.actions.values(), *book.backgrounds.values()):
        phrases += list(forms)
    phrases += [*book.collisions, *book.occlusions, *book.landscapes, *book.grounds]
    phrases += [p.format(d=d) for p in book.pans for d in DIRECTIONS]
    for templates in book.templates.values():  # their literal words ("two objects", "player")
        phrases += [re.sub(r"\{[a-z_]+\}", " ", t) for t in templates]
    return vocabulary_of(phrases)


def issue(messages: Iterable[str], category: type[Warning]) -> None:
    """Warn each message, attributed to the caller's first frame outside chronotope and torch
    (the pipeline's call, not its decorators)."""
    for message in messages:
        warnings.warn(message, category, stacklevel=_caller_level())


def _caller_level() -> int:
    import sys

    ours = (str(Path(__file__).parents[1]), str(Path(torch_dir())))
    frame, level = sys._getframe(2), 2  # the frame that called `issue`'s caller
    while frame is not None and frame.f_code.co_filename.startswith(ours):
        frame, level = frame.f_back, level + 1
    return level


def torch_dir() -> str:
    import torch

    return str(Path(torch.__file__).parent)
