"""schemathesis's command line, with one fault of the interpreter contained.

CPython 3.11 before 3.11.8 (Debian 12 ships 3.11.2) can raise "SystemError: AST constructor
recursion depth mismatch" from `ast.parse` when it is called deep in a stack. Hypothesis calls it
only to describe a lambda in a strategy's repr, which it builds while validating a strategy;
the error then ends that operation's run as a "Runtime Error" although no request was wrong. A
description it cannot read is one it does not know: "lambda: <unknown>", as Hypothesis itself
answers for a lambda whose source it cannot find. Nothing else changes.
"""

import sys

from hypothesis.internal import lambda_sources
from schemathesis.cli import schemathesis

_describe = lambda_sources._lambda_description


def _describe_or_unknown(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _describe_or_unknown

if __name__ == "__main__":
    sys.exit(schemathesis())
