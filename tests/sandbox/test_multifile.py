"""Multi-file programs on the real sandbox (every backend): the first file is the entry point,
the others sit beside it, sub-folders included, and the compilers see every source file."""

from __future__ import annotations

from execbox.program import SourceFile
from execbox.results import Status
from tests.conftest import Runner


def files(*pairs: tuple[str, str]) -> list[SourceFile]:
    return [SourceFile.text(name, content) for name, content in pairs]


def test_python_imports_a_module_and_a_package_beside_the_entry(run: Runner) -> None:
    result = run(
        "python",
        files(
            (
                "solution.py",
                "import helper\nfrom pkg.deep import twice\n"
                "print(helper.greet(input()), twice(21))\n",
            ),
            ("helper.py", "def greet(name):\n    return 'Hello ' + name\n"),
            ("pkg/__init__.py", ""),
            ("pkg/deep.py", "def twice(n):\n    return 2 * n\n"),
        ),
        stdin="Ada\n",
    )
    assert result.status is Status.OK, result
    assert result.stdout == "Hello Ada 42\n"


def test_python_entry_runs_under_the_languages_name_whatever_it_was_called(run: Runner) -> None:
    result = run(
        "python",
        files(
            (
                "anything.py",
                "import os\nprint(os.path.basename(__file__), sorted(os.listdir('.')))\n",
            ),
            ("data/words.txt", "x\n"),
        ),
    )
    assert result.status is Status.OK, result
    assert result.stdout == "main.py ['data', 'main.py']\n"


def test_c_compiles_every_source_file_and_finds_headers_in_folders(run: Runner) -> None:
    result = run(
        "c",
        files(
            (
                "prog.c",
                '#include <stdio.h>\n#include "lib/math2.h"\n'
                'int main(void) { printf("%d\\n", square(7)); return 0; }\n',
            ),
            ("lib/math2.h", "int square(int);\n"),
            ("math2.c", "int square(int x) { return x * x; }\n"),
        ),
    )
    assert result.status is Status.OK, result
    assert result.stdout == "49\n"


def test_c_error_in_a_second_file_is_a_compile_error_naming_it(run: Runner) -> None:
    result = run(
        "c",
        files(
            ("main.c", "int helper(void);\nint main(void) { return helper(); }\n"),
            ("helper.c", "int helper(void) { return oops; }\n"),
        ),
    )
    assert result.status is Status.COMPILE_ERROR
    assert result.compile_output and "helper.c" in result.compile_output


def test_java_main_uses_classes_from_other_files_and_a_package(run: Runner) -> None:
    result = run(
        "java",
        files(
            (
                "Program.java",
                "import util.Shout;\npublic class Main {\n"
                "  public static void main(String[] a) {\n"
                '    System.out.println(new Greeter().hi("Bo") + Shout.loud("x"));\n  }\n}\n',
            ),
            (
                "Greeter.java",
                'public class Greeter {\n  String hi(String n) { return "Hi " + n; }\n}\n',
            ),
            (
                "util/Shout.java",
                "package util;\npublic class Shout {\n"
                '  public static String loud(String s) { return s.toUpperCase() + "!"; }\n}\n',
            ),
        ),
    )
    assert result.status is Status.OK, result
    assert result.stdout == "Hi BoX!\n"


def test_javascript_requires_modules_beside_and_below_it(run: Runner) -> None:
    result = run(
        "javascript",
        files(
            (
                "index.js",
                "const { add } = require('./lib/add');\nconst n = require('./n.json');\n"
                "console.log(add(n.a, n.b));\n",
            ),
            ("lib/add.js", "exports.add = (a, b) => a + b;\n"),
            ("n.json", '{"a": 40, "b": 2}\n'),
        ),
    )
    assert result.status is Status.OK, result
    assert result.stdout == "42\n"
