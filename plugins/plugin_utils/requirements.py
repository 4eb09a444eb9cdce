# -*- coding: utf-8 -*-
# MIT License (see LICENSE)
"""Requirement lines: read from a requirements file's text, and the packages they name."""

from __future__ import annotations

import re

# A requirement's name, before any extra, version, marker, URL or option (PEP 508).
NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_lines(text):
    """Continued lines joined (a backslash at the end), comments and blank lines dropped, each line
    trimmed: a hash-locked entry (name==1.0 --hash=sha256:...) is one line."""
    joined = re.sub(r"\\[ \t]*\r?\n[ \t]*", " ", text or "")
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def names(lines):
    """The normalized name (PEP 503: lower case, runs of '-', '_' and '.' as one '-') of each requirement
    line; option lines (starting with '-') name none."""
    found = []
    for line in lines:
        match = NAME.match(line)
        if match and not line.lstrip().startswith("-"):
            found.append(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return found
