"""An API server's refusal of a desired Secret, reported as one line without the Secret's values."""

from __future__ import annotations

import base64

from kubesteward.drift.desired import error_line
from kubesteward.errors import Invalid

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
          "stringData": {"password": "hunter2-plain"}, "data": {"token": base64.b64encode(b"tok-123456").decode()}}


def test_a_secrets_values_are_cut_from_the_error_in_every_form_they_may_be_quoted() -> None:
    quoted = ('Secret "db" is invalid: data[password]: Invalid value: "aHVudGVyMi1wbGFpbg==", '
              'stringData: "hunter2-plain", token "tok-123456" or "dG9rLTEyMzQ1Ng=="\nsecond line')
    line = error_line(Invalid(quoted), SECRET)
    for value in ("hunter2-plain", "aHVudGVyMi1wbGFpbg==", "tok-123456", "dG9rLTEyMzQ1Ng=="):
        assert value not in line
    assert line.startswith('Secret "db" is invalid') and "\n" not in line and "<redacted>" in line


def test_other_kinds_keep_their_error_as_it_is() -> None:
    config = {**SECRET, "kind": "ConfigMap"}
    assert error_line(Invalid("bad: hunter2-plain"), config) == "bad: hunter2-plain"
    assert error_line(Invalid("")) == "Invalid"
