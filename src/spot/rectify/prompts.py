"""The rectification prompts of the paper's Appendix F, word for word.

The paper prints them as Python string literals, so ``$\\\\boxed{{ANSWER}}$``
in its listing is the text ``$\\boxed{ANSWER}$`` that the model receives; the
typeset quotes around the markers are plain double quotes here. The question,
the student's answer and (optionally) the ground truth follow the
instructions in labelled sections.

A custom template file may replace them: plain text with the placeholders
``{question}``, ``{response}`` and, optionally, ``{ground_truth}`` (replaced
literally, so LaTeX braces need no escaping).
"""

from __future__ import annotations

from pathlib import Path

START, END = "=== CORRECTED STARTED ===", "=== CORRECTED ENDED ==="

_FORMAT = (
    "**IMPORTANT OUTPUT FORMAT:** "
    f'1. First output "{START}" followed by the corrected answer '
    "2. Ends with the corrected answer in the format: "
    "'Therefore, the final answer is: $\\boxed{ANSWER}$.' "
    f'3. Then output "{END}" at the end of the corrected trace '
    '4. Do not output meta-phrases like "Here is the corrected version"'
)

WITHOUT_GROUND_TRUTH = (
    "Act as a helpful teaching assistant. Your goal is to revise a student model's answer "
    "to make it correct, while maintaining the student model's original writing style, tone, "
    "and formatting. "
    "The final result should look as if the student model had solved the problem correctly on its "
    "first try. You should first solve the problem independently and do the following: "
    "1. Identify the correct parts of the student model's answer and keep them. "
    "2. Replace the incorrect parts with correct reasoning. "
    "3. Carefully match the student model's original writing style, including their tone, "
    "vocabulary, formatting and sentence structure. "
    + _FORMAT
    + "\n\n**Question:**\n{question}\n\n**Student Model's Answer:**\n{response}"
)

WITH_GROUND_TRUTH = (
    "Act as a helpful teaching assistant. Your goal is to revise a student model's answer "
    "to make it correct, while maintaining the student model's original writing style, tone, "
    "and formatting. "
    "The final result should look as if the student model had solved the problem correctly on its "
    "first try. You should compare the student model's answer with the Reference Ground Truth and "
    "do the following: "
    "1. Identify the correct parts of the student model's answer and keep them. "
    "2. Replace the incorrect parts with correct reasoning. "
    "3. Carefully match the student model's original writing style, including their tone, "
    "vocabulary, and sentence structure. "
    + _FORMAT
    + "\n\n**Question:**\n{question}\n\n**Student Model's Answer:**\n{response}"
    + "\n\n**Reference Ground Truth:**\n{ground_truth}"
)


DIRECT = (
    "Solve the following problem. Reason step by step. "
    "**IMPORTANT OUTPUT FORMAT:** "
    f'1. First output "{START}" followed by your solution '
    "2. End the solution with the final answer in the format: "
    "'Therefore, the final answer is: $\\boxed{ANSWER}$.' "
    f'3. Then output "{END}" at the end of the solution'
    "\n\n**Question:**\n{question}"
)
"""The direct-answer prompt (``--style direct``): the oracle solves the question from scratch,
as for the paper's SFT baseline ("rejection-sampled responses from Gemini 2.5 Pro's direct
answer", Section 5.2); the paper does not print that prompt. It asks for the same markers
and final line as Appendix F, so the same judge reads the answer."""


def load_template(path: Path | None, with_ground_truth: bool, style: str = "surgical") -> str:
    if path is None and style == "direct":
        return DIRECT
    if path is None:
        return WITH_GROUND_TRUTH if with_ground_truth else WITHOUT_GROUND_TRUTH
    text = Path(path).read_text(encoding="utf-8")
    needed = ("{question}",) if style == "direct" else ("{question}", "{response}")
    missing = [p for p in needed if p not in text]
    if missing:
        raise ValueError(f"{path}: template lacks the placeholder {missing[0]}")
    return text


def fill(template: str, question: str, response: str, ground_truth: str) -> str:
    # replace the answer last so braces inside question/response are never re-read as placeholders
    out = template.replace("{ground_truth}", "\0GT\0").replace("{question}", "\0Q\0")
    out = out.replace("{response}", "\0R\0")
    return out.replace("\0Q\0", question).replace("\0R\0", response).replace("\0GT\0", ground_truth)


def parse_sections(message: str) -> dict[str, str]:
    """Question, response and ground truth back out of a filled default prompt (test oracles)."""
    parts: dict[str, str] = {}
    for label, key in (
        ("**Question:**\n", "question"),
        ("**Student Model's Answer:**\n", "response"),
        ("**Reference Ground Truth:**\n", "ground_truth"),
    ):
        start = message.find(label)
        if start >= 0:
            parts[key] = message[start + len(label) :]
    # each section ends where the next begins
    for key, nxt in (
        ("question", "\n\n**Student Model's Answer:**\n"),
        ("response", "\n\n**Reference Ground Truth:**\n"),
    ):
        if key in parts and nxt in parts[key]:
            parts[key] = parts[key][: parts[key].rindex(nxt)]
    return parts
