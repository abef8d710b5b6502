"""Where an object read from files came from: the file, its document, its place in a List, its lines.

Recorded for every object :func:`kubesteward.model.files.load_manifests` reads (and rendering makes), so a
finding can point at a file and line (SARIF, the table's ``file:line``). Lines of fields inside an object are
found only when asked (:mod:`kubesteward.model.lines`), so loading thousands of objects pays for none of it.
"""

from __future__ import annotations

from dataclasses import dataclass

# A step into a parsed document: a mapping key or a sequence index.
Step = str | int


@dataclass(frozen=True, slots=True)
class Origin:
    """One object's source.

    ``file`` is the path as given (``-`` for stdin). For rendered objects it is what the finding should point
    at: the chart's template file (helm's ``# Source:`` comment) or the kustomization file, and ``rendered_by``
    names the tool; their ``line`` is 0, since the tool's output has lines no user file has.
    """

    file: str
    document: int = 0  # index of the YAML document in the file (empty documents counted), 0 for JSON
    within: tuple[Step, ...] = ()  # the object's path inside its document: () or ("items", 3) for a List
    line: int = 0  # 1-based line where the object starts; 0 when not known yet (JSON) or not meaningful
    span: tuple[int, int] = (0, 0)  # 1-based first and last line of the whole document; (0, 0) unknown
    rendered_by: str = ""  # "" for plain files, else "kustomize" or "helm"
    source: str = ""  # for rendered objects: the chart or kustomization directory given

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file
