"""``lint --fix``: the safe fixes (:mod:`kubesteward.policy.fixes`) made in the files the objects came from.

A fix is made only where a finding points (the fix's field is the finding's field, inside it or around
it), so what the configuration excludes or suppresses is left alone. Each file is edited as text
(:mod:`kubesteward.model.yaml_edit`): the other documents, the comments and the order stay as written.
The result is a unified diff (:func:`unified_patch`) or the new text of each file; what remains after the
fixes is judged again by the same rules (:func:`remaining`), on the fixed objects.

A patch never shows a container's env values: when one would appear in a hunk's context the patch is
made without context lines (``patch`` and ``git apply --unidiff-zero`` apply it), and an object whose
change would rewrite such a line is not fixed in a patch (``--in-place`` fixes it: nothing is printed).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubesteward.model.full import FullKey
from kubesteward.model.origin import Origin
from kubesteward.model.semantics.pod_templates import unpointer
from kubesteward.model.yaml_edit import Addition, EditError, add_values, compose, lines_under
from kubesteward.policy.config import PolicyConfig
from kubesteward.policy.context import PolicyContext
from kubesteward.policy.engine import Located, PolicyResult, evaluate
from kubesteward.policy.files import FileLint
from kubesteward.policy.fixes import Fix, apply_fixes, json_patch, safe_fixes

FieldPath = tuple[str | int, ...]


@dataclass
class FileFix:
    """One file's change: its text before and after, and which lines (0-based) of ``before`` hold env values."""

    file: str
    before: str
    after: str
    sensitive: set[int] = field(default_factory=set)
    objects: list[FullKey] = field(default_factory=list)
    subjects: list[int] = field(default_factory=list)  # id() of the fixed objects (keys of FixPlan.fixed)


@dataclass
class FixPlan:
    files: list[FileFix] = field(default_factory=list)
    fixed: dict[int, tuple[Mapping[str, Any], list[Fix]]] = field(default_factory=dict)  # id(subject) -> fixes
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (object, why it was not fixed)

    @property
    def changes(self) -> int:
        return sum(len(fixes) for _subject, fixes in self.fixed.values())

    def drop(self, change: FileFix, why: str) -> None:
        """Leave ``change`` out: its objects count as not fixed."""
        self.files.remove(change)
        for ident in change.subjects:
            self.fixed.pop(ident, None)
        self.skipped.extend((str(key), why) for key in change.objects)


def _related(fix: FieldPath, found: FieldPath) -> bool:
    """Whether a fix at ``fix`` addresses a finding at ``found``: one inside the other, or the same field
    set elsewhere in the pod (a container's missing seccompProfile is fixed on its pod)."""
    shorter = min(len(fix), len(found))
    return shorter > 0 and (fix[:shorter] == found[:shorter] or fix[-1] == found[-1])


def fixes_for(subject: Mapping[str, Any], findings: Sequence[Located], config: PolicyConfig) -> list[Fix]:
    """The safe fixes of ``subject`` that address one of its ``findings`` (a fix where nothing was found
    would overrule a suppression or an exclusion)."""
    fields = [item.field for item in findings if item.field]
    return [fix for fix in safe_fixes(subject, config.settings) if any(_related(fix.path, f) for f in fields)]


def plan_fixes(checked: FileLint, config: PolicyConfig) -> FixPlan:
    """The safe fixes of every object with a finding they address, made in their files' text."""
    plan = FixPlan()
    by_subject: dict[int, list[Located]] = {}
    subjects: dict[int, Mapping[str, Any]] = {}
    for item in checked.result.located:
        by_subject.setdefault(id(item.subject), []).append(item)
        subjects[id(item.subject)] = item.subject
    documents: dict[tuple[str, int], list[tuple[Origin, FullKey, Mapping[str, Any], list[Fix]]]] = {}
    for ident, subject in subjects.items():
        fixes = fixes_for(subject, by_subject[ident], config)
        if not fixes:
            continue
        key = checked.key(subject)
        origin = checked.origin(subject)
        reason = _unfixable(origin)
        if reason is not None or origin is None:
            plan.skipped.append((str(key), reason or "it came from no file"))
            continue
        documents.setdefault((origin.file, origin.document), []).append((origin, key, subject, fixes))
    by_file: dict[str, list[tuple[Origin, FullKey, Mapping[str, Any], list[Fix]]]] = {}
    for (file, _document), entries in documents.items():
        by_file.setdefault(file, []).extend(entries)
    for file, entries in sorted(by_file.items()):
        change = _fix_file(file, entries, plan)
        if change is not None:
            plan.files.append(change)
    return plan


def _unfixable(origin: Origin | None) -> str | None:
    if origin is None:
        return "it came from no file"
    if origin.rendered_by:
        return f"rendered by {origin.rendered_by} from {origin.source or origin.file}: fix the template"
    if origin.file == "-":
        return "read from stdin: give the file to fix it"
    if origin.span == (0, 0):
        return "a JSON file: fix it by hand"
    return None


def _fix_file(
    file: str, entries: list[tuple[Origin, FullKey, Mapping[str, Any], list[Fix]]], plan: FixPlan,
) -> FileFix | None:
    try:
        with open(file, encoding="utf-8", newline="") as handle:  # line endings as they are (CRLF kept)
            before = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        for _origin, key, _subject, _fixes in entries:
            plan.skipped.append((str(key), f"{file} cannot be read again: {exc}"))
        return None
    lines = before.splitlines(keepends=True)
    change = FileFix(file, before, before)
    grouped: dict[int, list[tuple[Origin, FullKey, Mapping[str, Any], list[Fix]]]] = {}
    for entry in entries:
        grouped.setdefault(entry[0].document, []).append(entry)
    # Last document first: an edit changes the line numbers only of what follows it.
    for _document, group in sorted(grouped.items(), key=lambda item: -item[1][0][0].span[0]):
        first, last = _document_lines(group[0][0], lines)
        text = "".join(lines[first:last])
        try:
            change.sensitive.update(first + line for start, end in lines_under(compose(text), "env")
                                    for line in range(start, end + 1))
        except EditError:
            pass
        for origin, key, subject, fixes in group:
            additions = [Addition((*origin.within, *unpointer(op["path"])), op["value"]) for op in json_patch(subject, fixes)]
            try:
                text = add_values(text, additions)
            except EditError as exc:
                plan.skipped.append((str(key), f"{file}: {exc}"))
                continue
            plan.fixed[id(subject)] = (subject, fixes)
            change.objects.append(key)
            change.subjects.append(id(subject))
        lines[first:last] = text.splitlines(keepends=True)
    change.after = "".join(lines)
    return change if change.after != before else None


def _document_lines(origin: Origin, lines: Sequence[str]) -> tuple[int, int]:
    """The 0-based, end-exclusive lines of the document ``origin`` is in (its root node's lines; the next
    document's ``---`` left out)."""
    first, last = origin.span
    start, end = first - 1, min(last, len(lines))
    while end - 1 > start and lines[end - 1].startswith(("---", "...")):
        end -= 1
    return start, end


def unified_patch(change: FileFix, label: str) -> str | None:
    """The unified diff of ``change`` (``a/label``, ``b/label``): 3 lines of context, none when a context line
    would hold an env value; None when the change itself rewrites such a line."""
    old = change.before.splitlines(keepends=True)
    new = change.after.splitlines(keepends=True)
    for context in (3, 0):
        groups = difflib.SequenceMatcher(None, old, new, autojunk=False).get_grouped_opcodes(context)
        shown = {i for group in groups for tag, i1, i2, _j1, _j2 in group if context or tag != "equal"
                 for i in range(i1, i2)}
        if not shown & change.sensitive:
            break
    else:
        return None
    out = []
    for line in difflib.unified_diff(old, new, f"a/{label}", f"b/{label}", n=context):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def remaining(checked: FileLint, plan: FixPlan, config: PolicyConfig) -> PolicyResult:
    """The findings the fixed objects would still have: the same rules over the same set, the fixed
    objects replaced by their fixed selves."""
    objects = [
        apply_fixes(obj, plan.fixed[id(obj)][1]) if id(obj) in plan.fixed else obj
        for obj in checked.context.objects
    ]
    return evaluate(PolicyContext(objects, config.settings), config)


def fixed_codes(before: Iterable[Located], after: Iterable[Located]) -> list[str]:
    """Codes found before and not after (what the fixes took care of)."""
    left = {item.finding.code for item in after}
    return sorted({item.finding.code for item in before} - left)
