"""Read a pickle's imports without running it, and refuse any that is not a tensor's.

Usage::

    problem = scan_pickle(data)        # None, or "imports os.system" / "is not a valid pickle: ..."

Unpickling runs code: every ``GLOBAL``/``STACK_GLOBAL`` opcode imports a callable that ``REDUCE``,
``NEWOBJ`` or ``BUILD`` then calls, which is how a ``__reduce__`` returning ``(os.system, ...)``
runs a command. ``pickletools.genops`` only parses the opcodes, so the imports can be read
before anything is loaded. The names come from ``torch.save`` of tensors, state dicts and
``torch.export`` sample inputs with torch 2.13 (listed from real archives of ``examples/*.py``
and state dicts of every dtype): rebuild a tensor or parameter from a typed storage, and an
``OrderedDict``. Anything else is refused, including what ``torch.load(weights_only=True)``
would accept: a model file for a microcontroller holds tensors, nothing more, and a short list
is one that can be read and trusted.

``STACK_GLOBAL`` takes its module and name from the stack, so the stack is simulated (from
each opcode's ``stack_before``/``stack_after``, as ``pickletools.dis`` does), with string
constants and memo entries tracked; a name that is not a plain string constant is refused.
``INST``, ``OBJ`` and the ``EXT`` opcodes (imports by other routes) are refused outright.
"""

from __future__ import annotations

import pickletools

_STORAGES = ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")

ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [("collections", "OrderedDict"),
     ("torch._utils", "_rebuild_tensor_v2"),
     ("torch._utils", "_rebuild_parameter")]
    + [("torch", f"{s}Storage") for s in _STORAGES])

_REFUSED_OPS = {"INST": "creates an object by name (INST)", "OBJ": "creates an object (OBJ)",
                "EXT1": "imports through the extension registry", "EXT2": "imports through the extension registry",
                "EXT4": "imports through the extension registry"}
_STRING_PUSHES = {"UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"}
_MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GETS = {"GET", "BINGET", "LONG_BINGET"}
_MARK = object()   # a MARK on the simulated stack
_OTHER = object()  # any value that is not a string constant


def scan_pickle(data: bytes) -> str | None:
    """The first reason ``data`` may not be unpickled (``"imports os.system"``), else None."""
    stack: list = []
    memo: dict = {}
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in _REFUSED_OPS:
                return _REFUSED_OPS[op.name]
            if op.name in ("GLOBAL", "STACK_GLOBAL"):
                if op.name == "GLOBAL":
                    module, _, name = str(arg).partition(" ")
                else:
                    module, name = (stack[-2], stack[-1]) if len(stack) >= 2 else (_OTHER, _OTHER)
                    if not (isinstance(module, str) and isinstance(name, str)):
                        return "imports a name computed at load time (STACK_GLOBAL)"
                if (module, name) not in ALLOWED_GLOBALS:
                    return f"imports {module}.{name}"
            problem = _simulate(op, arg, stack, memo)
            if problem:
                return problem
    except Exception as exc:  # noqa: BLE001 -- genops raises ValueError and others on a damaged pickle
        return f"is not a valid pickle ({type(exc).__name__}: {exc})"
    return None


def _simulate(op, arg, stack: list, memo: dict) -> str | None:
    """Apply one opcode to the simulated stack; a reason if the pickle is inconsistent."""
    if op.name in _MEMO_PUTS or op.name == "MEMOIZE":
        if not stack or stack[-1] is _MARK:
            return "is not a valid pickle (memo store of an empty stack)"
        memo[len(memo) if op.name == "MEMOIZE" else arg] = stack[-1]
        return None  # the stored value stays on the stack
    before, after = op.stack_before, op.stack_after
    if pickletools.markobject in before or (op.name == "POP" and stack and stack[-1] is _MARK):
        if _MARK not in stack:
            return f"is not a valid pickle ({op.name} without MARK)"
        while stack.pop() is not _MARK:
            pass
        n_pop = before.index(pickletools.markobject) if pickletools.markobject in before else 0
    else:
        n_pop = len(before)
    if n_pop > len(stack) or any(v is _MARK for v in stack[len(stack) - n_pop:]):
        return f"is not a valid pickle ({op.name} pops past the stack)"
    del stack[len(stack) - n_pop:]
    if op.name in _STRING_PUSHES:
        stack.append(arg)
    elif op.name in _MEMO_GETS:
        stack.append(memo.get(arg, _OTHER))
    elif pickletools.markobject in after:
        stack.append(_MARK)
    else:
        stack.extend(_OTHER for _ in after)
    return None
