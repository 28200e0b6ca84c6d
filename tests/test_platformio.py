"""The generated platformio.ini, read by PlatformIO's own config loader and source filter, against
CMake's build of the same folder (compile_commands.json, the link line, the configured linker
script): one `main`, a linker script that exists, the same sources and flags. PlatformIO's
platforms cannot be downloaded here, so nothing is built with `pio run`."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import need_toolchain

pytest.importorskip("platformio", reason="pip install platformio (the test extra)")
from platformio.fs import match_src_files
from platformio.project.config import ProjectConfig

BOARD = "nucleo-f446re"
_MAIN = re.compile(r"^\s*int\s+main\s*\([^)]*\)\s*\{", re.MULTILINE)  # a definition, not a prototype


@pytest.fixture(scope="module")
def generated(digits_project, tmp_path_factory):
    """(firmware folder with platformio.ini, CMake build folder configured for silicon)."""
    from mcudeploy.boards import load_board
    from mcudeploy.build import prepare

    need_toolchain()
    if not shutil.which("make"):
        pytest.skip("make not installed (the Unix Makefiles generator writes link.txt)")
    dest = prepare(digits_project, load_board(BOARD))
    cm = tmp_path_factory.mktemp("cmake")
    subprocess.run(["cmake", "-S", str(dest), "-B", str(cm), "-G", "Unix Makefiles",
                    "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"], check=True, capture_output=True)
    return dest, cm


def _env(dest: Path) -> tuple[ProjectConfig, str]:
    cfg = ProjectConfig(str(dest / "platformio.ini"))
    assert cfg.validate() and cfg.envs() == [BOARD]
    return cfg, f"env:{BOARD}"


def _cmake_units(dest: Path, cm: Path) -> dict[str, list[str]]:
    """Source (relative to dest) -> its compile flags, -I made relative, compiler/-o/-c dropped."""
    import json

    units = {}
    for e in json.loads((cm / "compile_commands.json").read_text()):
        argv, flags = shlex.split(e["command"])[1:], []
        it = iter(argv)
        for a in it:
            if a in ("-o", "-c"):
                next(it)
            elif a.startswith("-I"):
                flags.append("-I" + str(Path(a[2:]).relative_to(dest)))
            else:
                flags.append(a)
        units[str(Path(e["file"]).relative_to(dest))] = flags
    return units


def test_sources_are_cmakes_with_one_main(generated):
    dest, cm = generated
    cfg, env = _env(dest)
    picked = match_src_files(str(dest), cfg.get(env, "build_src_filter"), ["c"])
    assert sorted(picked) == sorted(_cmake_units(dest, cm))
    mains = [f for f in picked if _MAIN.search((dest / f).read_text())]
    assert mains == ["src/main.c"]
    assert len([f for f in (dest / "src").glob("*.c") if _MAIN.search(f.read_text())]) >= 2  # a choice was made


def test_linker_script_exists_and_is_cmakes(generated):
    dest, cm = generated
    cfg, env = _env(dest)
    ld = dest / cfg.get(env, "board_build.ldscript")
    assert ld.is_file() and "@" not in ld.read_text()
    assert ld.read_text() == (cm / "linker.ld").read_text()


def test_compile_flags_are_cmakes(generated):
    dest, cm = generated
    cfg, env = _env(dest)
    assert cfg.get(env, "build_unflags") == ["-Os"]  # the platform's default, replaced by CMake's -O3
    pio = [a for line in cfg.get(env, "build_flags") for a in shlex.split(line)]
    for src, flags in _cmake_units(dest, cm).items():
        assert sorted(flags) == sorted(pio), src
    assert {"-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"} <= set(pio)
    assert not any(f.startswith("-DMCD_USE_DSP") or f == "-DMCD_NO_DSP" for f in pio)  # -mcpu picks DSP


def test_link_flags_are_cmakes(generated):
    """The extra script's env.Append(LINKFLAGS=[...]) (read with ast, not run: it needs SCons) adds
    CMake's link flags but the map file and -T, which board_build.ldscript gives."""
    import ast

    dest, cm = generated
    cfg, env = _env(dest)
    (script,) = cfg.get(env, "extra_scripts")
    calls = [n for n in ast.walk(ast.parse((dest / script).read_text())) if isinstance(n, ast.Call)
             and ast.unparse(n.func) == "env.Append"]
    assert len(calls) == 1 and [k.arg for k in calls[0].keywords] == ["LINKFLAGS"]
    added = ast.literal_eval(calls[0].keywords[0].value)
    argv = shlex.split((cm / "CMakeFiles" / "firmware.dir" / "link.txt").read_text().splitlines()[0])[1:]
    it, want = iter(argv), []
    for a in it:
        if a == "-o":
            next(it)
        elif a.startswith("-") and not a.startswith(("-Wl,-Map=", "-T")):
            want.append(a)
    assert sorted(added) == sorted(want)
