"""Check a ``torch.export`` archive's program (``models/*.json``) for text that torch would run.

Usage::

    problem = check_program(json.loads(text))   # None, or "its guard '...' uses the name 'os'"

The program is JSON, yet two of its fields reach Python's evaluator in torch 2.13:

- every symbolic shape (``expr_str``, e.g. ``"Symbol('s77', positive=True, integer=True)"``) is
  parsed by ``sympy.sympify``, which evaluates it (``torch.export.load`` runs it);
- ``guards_code`` lines are compiled with ``exec`` into a guard function that runs on every call
  of ``ep.module()``.

Both are checked against a small grammar: names from a fixed list (sympy's constructors and
torch's shape functions; for guards the input accessor ``L[...]``, ``.size()``, ``.stride()``),
symbol names like ``s77``, numbers, operators, and quoted identifiers; no ``__`` anywhere, no
other strings, and no attribute access in shape expressions. Whatever those names are combined
into, they only build sympy expressions or compare sizes. Node targets are checked too: only
built-in operator namespaces (``torch.ops.aten/prims/higher_order``) and the symbolic-size
operators torch itself allows; a graph that names a custom class (``as_custom_obj``) is refused,
since its object would come from a pickle.
"""

from __future__ import annotations

import re


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SYMPY_NAMES = _names("""
    Symbol Integer Rational Float Add Mul Pow Mod Max Min Abs floor ceiling sqrt oo zoo nan int_oo
    Eq Ne Lt Le Gt Ge And Or Not true false True False None
    positive negative integer real nonnegative nonpositive finite infinite zero nonzero even odd
    FloorDiv ModularIndexing Where PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift
    PowByNatural FloatPow FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator TruncToFloat
    TruncToInt RoundToInt RoundDecimal ToFloat Identity""")
_GUARD_ATTRIBUTES = _names("size stride storage_offset dim numel isnan inf")
_GUARD_NAMES = _SYMPY_NAMES | _GUARD_ATTRIBUTES | _names("L math and or not is in")
_FN_PREFIXES = ("OpaqueUnaryFn_", "BitwiseFn_")
_SYMBOL = re.compile(r"[a-z]+\d+\Z")   # s77, u0, zf3: torch's shape symbols
_TOKEN = re.compile(r"""\s+|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|\d+(\.\d+)?([eE][-+]?\d+)?|'[A-Za-z_][A-Za-z0-9_]*'
                        |\*\*|//|==|!=|<=|>=|<<|>>|[-+*/%(),<>=\[\]~&|.]""", re.VERBOSE)

_SYM_OPERATORS = frozenset(
    [f"_operator.{n}" for n in _names("add and_ eq floordiv ge gt le lshift lt mod mul ne neg or_ pos pow "
                                      "rshift sub truediv")]
    + [f"torch.sym_{n}" for n in _names("float int ite max min not")]
    + ["math.trunc", "torch._sym_sqrt"])
_OP_TARGET = re.compile(r"torch\.ops\.(aten|prims|higher_order)(\.[A-Za-z][A-Za-z0-9_]*){1,2}\Z")


def check_program(doc) -> str | None:
    """The first reason this program may not be loaded, else None."""
    if not isinstance(doc, dict):
        return "its program is not a JSON object"
    guards = doc.get("guards_code") or []
    if not isinstance(guards, list):
        return "its guards_code is not a list"
    for g in guards:
        problem = check_expression(g, guard=True)
        if problem:
            return f"its guard {str(g)[:80]!r} {problem}"
    return _walk(doc, 0)


def _walk(obj, depth: int) -> str | None:
    if depth > 200:
        return "its program nests deeper than 200 levels"
    if isinstance(obj, list):
        for v in obj:
            if problem := _walk(v, depth + 1):
                return problem
        return None
    if not isinstance(obj, dict):
        return None
    if "as_custom_obj" in obj:
        return "its graph uses a custom class object (which torch would unpickle)"
    if "expr_str" in obj and (problem := check_expression(obj["expr_str"], guard=False)):
        return f"its shape expression {str(obj['expr_str'])[:80]!r} {problem}"
    if {"target", "inputs", "outputs"} <= obj.keys():
        target = obj["target"]
        if not isinstance(target, str) or not (target in _SYM_OPERATORS or _OP_TARGET.match(target)):
            return f"its graph calls {str(target)[:80]!r}, which is not a built-in torch operator"
    for v in obj.values():
        if problem := _walk(v, depth + 1):
            return problem
    return None


def check_expression(text, guard: bool) -> str | None:
    """Why ``text`` is not a plain shape expression (or, with ``guard``, a size guard), else None."""
    if not isinstance(text, str):
        return "is not a string"
    if "__" in text:
        return "contains '__'"
    allowed = _GUARD_NAMES if guard else _SYMPY_NAMES
    pos, after_dot = 0, False
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            return f"has the character {text[pos]!r}"
        tok, name = m.group(0), m.group("name")
        if tok == "." and not guard:
            return "uses attribute access"
        if name is not None:
            if after_dot and name not in _GUARD_ATTRIBUTES:
                return f"uses the attribute '{name}'"
            if not (name in allowed or _SYMBOL.match(name) or name.startswith(_FN_PREFIXES)):
                return f"uses the name '{name}'"
        if not tok.isspace():
            after_dot = tok == "."
        pos = m.end()
    return None
