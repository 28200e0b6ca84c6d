"""C code generation from the int8 graph and its memory plan (jinja2 templates)."""

from .emit import emit_engine, kernel_sources

__all__ = ["emit_engine", "kernel_sources"]
