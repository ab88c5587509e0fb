"""Which pickle globals a team may allow (``security.allow_globals``), and which never.

A reviewed checkpoint may name classes deploygate does not know (Lightning's
``hyper_parameters`` pickle omegaconf containers); a team that has read its checkpoint can list
those exact names. Names that run code, open files, reach the network, import modules, or load
another pickle can never be allowed: allowing one would let any pull request run code on every
machine that loads the model. Both the manifest (which rejects such an entry) and the pickle
reader (which never honours one) ask :func:`refusal`.
"""

from __future__ import annotations

import re

GLOBAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
"""``module.name``: dotted identifiers, at least one dot."""

CODE_RUNNING_MODULES = frozenset({
    # processes, the shell, the OS
    "os", "posix", "nt", "subprocess", "_posixsubprocess", "pty", "signal", "multiprocessing",
    "_winapi", "msvcrt", "ctypes", "_ctypes", "cffi",
    # the interpreter itself: importing, evaluating, compiling, introspecting
    "sys", "importlib", "imp", "runpy", "code", "codeop", "types",
    "inspect", "pkgutil", "zipimport", "gc", "ast", "dis",
    # calling arbitrary attributes and callables
    "operator", "_operator", "functools",
    # files and the network
    "io", "_io", "shutil", "pathlib", "tempfile", "glob", "fileinput", "socket", "ssl",
    "urllib", "http", "ftplib", "smtplib", "telnetlib", "webbrowser", "asyncio",
    # more pickles, and serializers that run code on load
    "pickle", "_pickle", "copyreg", "marshal", "shelve", "dill", "cloudpickle", "joblib",
    "yaml", "jsonpickle",
    # debuggers and shells
    "pdb", "bdb", "trace", "IPython",
})
"""Modules (and their submodules) none of whose names may be allowed."""

CODE_RUNNING_NAMES = frozenset({
    "torch.load", "torch.hub", "torch.jit", "torch.ops", "torch._ops", "torch.classes",
    "torch.storage._load_from_bytes", "torch.serialization", "torch.package",
    "numpy.load", "numpy.lib.format", "numpy.ctypeslib", "numpy.testing",
    "pandas.read_pickle", "pandas.eval", "scipy.io", "omegaconf.OmegaConf",
})
"""Names (and anything under them) that load files or pickles, or evaluate expressions."""


PLAIN_BUILTINS = frozenset({
    "dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes",
    "bytearray", "bool", "slice", "range", "object"})
"""The builtins that only build values; every other builtin (eval, exec, compile, open,
getattr, __import__, ...) can never be allowed."""


def refusal(name: str) -> str | None:
    """Why ``name`` can never be allowed, or None when a team may allow it."""
    if not GLOBAL_NAME.match(name):
        return "is not a dotted `module.name` global"
    parts = name.split(".")
    if parts[0] in ("builtins", "__builtin__"):
        if len(parts) == 2 and parts[1] in PLAIN_BUILTINS:
            return None
        return ("is a builtin that can run code or reach outside the process, so it can never "
                "be allowed")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if i < len(parts) and prefix in CODE_RUNNING_MODULES:
            return f"comes from `{prefix}`, which can run code, so it can never be allowed"
        if prefix in CODE_RUNNING_NAMES:
            return f"is `{prefix}`, which loads files or evaluates code, so it can never be allowed"
    return None
