"""The quiz YAML format (for lesson authors), as pydantic models: one bank per lesson in
`helpers/quiz/banks/<lesson>.yaml`, with a `title:` and a `questions:` list.

Every question has `id` (lowercase letters, digits and _), `kind`, `prompt`, `explanation`
(shown with Correct and in the solution) and `hints` (one or more). Each kind adds:
  choice      `choices`: 2-10 of {text, correct, feedback}, exactly one correct; every
              wrong one has `feedback` saying why (never the answer), and may name the
              `misconception` it reveals (a short phrase shown on the classroom board,
              e.g. "streaming makes the model faster"; never on a correct choice)
  multi       `choices` as above, one or more correct
  numeric     `expected`, `tolerance` ({abs: x} or {rel: x}), `feedback` {low, high}, `unit`
  self_check  `model_answer` and `compare` (points to compare with): never graded
  exercise    `args` and `solution`, and either `check` (a named check in checks.py, judged
              against the learner's run) or `expect` (a rule: equals, choice_of, number,
              greater_than, mapping) with `example`, one right value per arg.
Unknown fields are refused (a typo would otherwise be ignored). `validation.check_bank` reports
the first problem as one line naming the file, the question id and the field.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from .checks import NAMED_CHECKS


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must be text, not blank")
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a number")
    return value


Text = Annotated[str, AfterValidator(_text)]
Number = Annotated[float, BeforeValidator(_number)]
Texts = Annotated[list[Text], Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Choice(_Strict):
    text: Text
    correct: StrictBool
    feedback: Text | None = None
    misconception: Annotated[Text, StringConstraints(max_length=80)] | None = None

    @model_validator(mode="after")
    def _wrong_says_why(self) -> Choice:
        if not self.correct and self.feedback is None:
            raise ValueError("is a wrong choice without `feedback` saying why")
        if self.correct and self.misconception is not None:
            raise ValueError("is a correct choice with a `misconception` (only wrong choices reveal one)")
        return self


Choices = Annotated[list[Choice], Field(min_length=2, max_length=10)]


def _count_right(choices: list[Choice], allowed: range, want: str) -> list[Choice]:
    right = sum(c.correct for c in choices)
    if right not in allowed:
        raise ValueError(f"needs {want} correct choice (this has {right})")
    return choices


class _Question(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
    prompt: Text
    explanation: Text
    hints: Texts


class ChoiceQuestion(_Question):
    kind: Literal["choice"]
    choices: Choices

    @field_validator("choices")
    @classmethod
    def _one_right(cls, choices: list[Choice]) -> list[Choice]:
        return _count_right(choices, range(1, 2), "exactly one")


class MultiQuestion(_Question):
    kind: Literal["multi"]
    choices: Choices

    @field_validator("choices")
    @classmethod
    def _some_right(cls, choices: list[Choice]) -> list[Choice]:
        return _count_right(choices, range(1, 11), "at least one")


class Tolerance(_Strict):
    abs: Number | None = None
    rel: Number | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Tolerance:
        if (self.abs is None) == (self.rel is None):
            raise ValueError("needs exactly one of `abs` or `rel`")
        return self


class LowHigh(_Strict):
    low: Text
    high: Text


class NumericQuestion(_Question):
    kind: Literal["numeric"]
    expected: Number
    tolerance: Tolerance
    feedback: LowHigh
    unit: str = ""


class SelfCheckQuestion(_Question):
    kind: Literal["self_check"]
    model_answer: Text
    compare: Texts


# ---- exercise rules (`expect:`) -----------------------------------------------------------------

class Equals(_Strict):
    type: Literal["equals"]
    value: Any
    wrong: Text


class ChoiceOf(_Strict):
    type: Literal["choice_of"]
    values: Annotated[list[Any], Field(min_length=1)]
    wrong: Text


class Mistake(_Strict):
    value: Number
    message: Text


class NumberRule(_Strict):
    type: Literal["number"]
    value: Number
    tolerance: Number
    wrong: Text
    mistakes: list[Mistake] = []


class GreaterThan(_Strict):
    type: Literal["greater_than"]
    value: Number
    wrong: Text
    integer: StrictBool = False


class MappingRule(_Strict):
    type: Literal["mapping"]
    answers: dict[str, Annotated[list[str], Field(min_length=1)]]
    feedback: dict[str, Text]

    @model_validator(mode="after")
    def _feedback_per_key(self) -> MappingRule:
        if set(self.answers) != set(self.feedback):
            raise ValueError("needs one `feedback` message per key of `answers`")
        return self


RULES = {"equals": Equals, "choice_of": ChoiceOf, "number": NumberRule, "greater_than": GreaterThan,
         "mapping": MappingRule}
Rule = Annotated[Union[tuple(RULES.values())], Field(discriminator="type")]  # noqa: UP007 -- a Union built from a tuple


class ExerciseQuestion(_Question):
    kind: Literal["exercise"]
    args: Texts
    solution: Text
    check: str | None = None
    expect: Rule | None = None
    example: list[Any] | None = None

    @field_validator("check")
    @classmethod
    def _known_check(cls, name: str | None) -> str | None:
        if name is not None and name not in NAMED_CHECKS:
            raise ValueError(f"must be one of {', '.join(NAMED_CHECKS)}")
        return name

    @model_validator(mode="before")
    @classmethod
    def _check_or_rule(cls, data: Any) -> Any:
        """Before the fields: which way the exercise is judged is the first thing to fix."""
        if not isinstance(data, dict):
            return data
        if ("check" in data) == ("expect" in data):
            raise ValueError("an exercise needs one of `check` (a named check) or `expect` (a rule)")
        example, args = data.get("example"), data.get("args")
        if "expect" in data and not (isinstance(example, list) and isinstance(args, list)
                                     and len(example) == len(args)):
            raise ValueError("an `expect` exercise needs `example`: one correct value per arg")
        return data

    @model_validator(mode="after")
    def _one_arg_rule(self) -> ExerciseQuestion:
        if self.expect is not None and len(self.args) != 1:
            raise ValueError("`expect` checks one arg, so `args` needs exactly one name")
        return self


KINDS = {"choice": ChoiceQuestion, "multi": MultiQuestion, "numeric": NumericQuestion,
         "self_check": SelfCheckQuestion, "exercise": ExerciseQuestion}
AnyQuestion = Annotated[Union[tuple(KINDS.values())], Field(discriminator="kind")]  # noqa: UP007 -- a Union built from a tuple


class Bank(_Strict):
    """One lesson's YAML file."""

    title: Text | None = None
    questions: list[AnyQuestion]

    @model_validator(mode="after")
    def _ids_once(self) -> Bank:
        seen: set[str] = set()
        for q in self.questions:
            if q.id in seen:
                raise ValueError(f"question {q.id!r}: its id is used twice")
            seen.add(q.id)
        return self
