"""For every language: a program that reads a number and prints its double, one that writes
"boom" to stderr and exits with code 3, and (compiled languages) one with a syntax error."""

from __future__ import annotations

from typing import NamedTuple


class Programs(NamedTuple):
    doubles: str
    fails: str
    syntax_error: str | None = None


_C_FAIL = (
    '#include <stdio.h>\nint main(void) {\n    fprintf(stderr, "boom\\n");\n    return 3;\n}\n'
)
_COBOL_HEAD = "       IDENTIFICATION DIVISION.\n       PROGRAM-ID. MAIN.\n"

PROGRAMS: dict[str, Programs] = {
    "python": Programs(
        "n = int(input())\nprint(n * 2)\n",
        'import sys\nprint("boom", file=sys.stderr)\nsys.exit(3)\n',
    ),
    "javascript": Programs(
        'const n = parseInt(require("fs").readFileSync(0, "utf8"));\nconsole.log(n * 2);\n',
        'console.error("boom");\nprocess.exit(3);\n',
    ),
    "typescript": Programs(
        'const fs = require("fs");\nconst n: number = parseInt(fs.readFileSync(0, "utf8"));\n'
        "console.log(n * 2);\n",
        'console.error("boom");\nprocess.exit(3);\n',
        "let x: number = ;\n",
    ),
    "c": Programs(
        '#include <stdio.h>\nint main(void) {\n    int n;\n    scanf("%d", &n);\n'
        '    printf("%d\\n", n * 2);\n    return 0;\n}\n',
        _C_FAIL,
        "int main(void) {\n    return 0\n}\n",
    ),
    "cpp": Programs(
        "#include <iostream>\nint main() {\n    int n;\n    std::cin >> n;\n"
        "    std::cout << n * 2 << std::endl;\n}\n",
        '#include <iostream>\nint main() {\n    std::cerr << "boom" << std::endl;\n'
        "    return 3;\n}\n",
        "int main() {\n    return 0\n}\n",
    ),
    "java": Programs(
        "import java.util.Scanner;\n\npublic class Main {\n"
        "    public static void main(String[] args) {\n"
        "        int n = new Scanner(System.in).nextInt();\n        System.out.println(n * 2);\n"
        "    }\n}\n",
        "public class Main {\n    public static void main(String[] args) {\n"
        '        System.err.println("boom");\n        System.exit(3);\n    }\n}\n',
        "public class Main {\n    public static void main(String[] args) {\n        int x = ;\n"
        "    }\n}\n",
    ),
    "bash": Programs("read n\necho $((n * 2))\n", "echo boom >&2\nexit 3\n"),
    "ruby": Programs("n = gets.to_i\nputs n * 2\n", '$stderr.puts "boom"\nexit 3\n'),
    "perl": Programs(
        'my $n = <STDIN>;\nprint $n * 2, "\\n";\n', 'print STDERR "boom\\n";\nexit 3;\n'
    ),
    "php": Programs(
        '<?php\n$n = (int) trim(fgets(STDIN));\necho $n * 2, "\\n";\n',
        '<?php\nfwrite(STDERR, "boom\\n");\nexit(3);\n',
    ),
    "lua": Programs(
        'local n = io.read("n")\nprint(n * 2)\n', 'io.stderr:write("boom\\n")\nos.exit(3)\n'
    ),
    "go": Programs(
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar n int\n\tfmt.Scan(&n)\n'
        "\tfmt.Println(n * 2)\n}\n",
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n'
        '\tfmt.Fprintln(os.Stderr, "boom")\n\tos.Exit(3)\n}\n',
        "package main\n\nfunc main( {\n}\n",
    ),
    "rust": Programs(
        "fn main() {\n    let mut line = String::new();\n"
        "    std::io::stdin().read_line(&mut line).unwrap();\n"
        '    let n: i64 = line.trim().parse().unwrap();\n    println!("{}", n * 2);\n}\n',
        'fn main() {\n    eprintln!("boom");\n    std::process::exit(3);\n}\n',
        "fn main() {\n    let x = ;\n}\n",
    ),
    "haskell": Programs(
        "main :: IO ()\nmain = do\n  n <- readLn :: IO Int\n  print (n * 2)\n",
        "import System.Exit\nimport System.IO\n\nmain :: IO ()\nmain = do\n"
        '  hPutStrLn stderr "boom"\n  exitWith (ExitFailure 3)\n',
        "main = do print (\n",
    ),
    "ocaml": Programs(
        'let () = Scanf.scanf " %d" (fun n -> Printf.printf "%d\\n" (n * 2))\n',
        'let () =\n  prerr_endline "boom";\n  exit 3\n',
        "let () = print_int (\n",
    ),
    "pascal": Programs(
        "program Main;\nvar n: integer;\nbegin\n  readln(n);\n  writeln(n * 2);\nend.\n",
        "program Main;\nbegin\n  writeln(StdErr, 'boom');\n  halt(3);\nend.\n",
        "program Main;\nbegin\n  writeln(\nend.\n",
    ),
    "fortran": Programs(
        "program main\n  integer :: n\n  read(*, *) n\n  print '(i0)', n * 2\nend program main\n",
        "program main\n  write(0, '(a)') 'boom'\n  call exit(3)\nend program main\n",
        "program main\n  print *, (\nend program main\n",
    ),
    "ada": Programs(
        "with Ada.Text_IO;\nwith Ada.Integer_Text_IO;\n\n"
        "procedure Main is\n   N : Integer;\nbegin\n"
        "   Ada.Integer_Text_IO.Get (N);\n   Ada.Integer_Text_IO.Put (N * 2, Width => 0);\n"
        "   Ada.Text_IO.New_Line;\nend Main;\n",
        "with Ada.Text_IO;\nwith Ada.Command_Line;\n\nprocedure Main is\nbegin\n"
        '   Ada.Text_IO.Put_Line (Ada.Text_IO.Standard_Error, "boom");\n'
        "   Ada.Command_Line.Set_Exit_Status (3);\nend Main;\n",
        "procedure Main is\nbegin\n   null\nend Main;\n",
    ),
    "d": Programs(
        "import std.stdio, std.conv, std.string;\n\nvoid main() {\n"
        "    auto n = readln().strip.to!int;\n    writeln(n * 2);\n}\n",
        'import std.stdio;\n\nint main() {\n    stderr.writeln("boom");\n    return 3;\n}\n',
        "void main() {\n    int x = ;\n}\n",
    ),
    "csharp": Programs(
        "using System;\n\nclass Program {\n    static void Main() {\n"
        "        int n = int.Parse(Console.ReadLine());\n        Console.WriteLine(n * 2);\n"
        "    }\n}\n",
        "using System;\n\nclass Program {\n    static int Main() {\n"
        '        Console.Error.WriteLine("boom");\n        return 3;\n    }\n}\n',
        "class Program {\n    static void Main() {\n        int x = ;\n    }\n}\n",
    ),
    "kotlin": Programs(
        "fun main() {\n    val n = readLine()!!.trim().toInt()\n    println(n * 2)\n}\n",
        "import kotlin.system.exitProcess\n\nfun main() {\n"
        '    System.err.println("boom")\n    exitProcess(3)\n}\n',
        "fun main() {\n    val x = \n}\n",
    ),
    "scala": Programs(
        "object Main {\n  def main(args: Array[String]): Unit = {\n"
        "    val n = scala.io.StdIn.readLine().trim.toInt\n    println(n * 2)\n  }\n}\n",
        "object Main {\n  def main(args: Array[String]): Unit = {\n"
        '    System.err.println("boom")\n    sys.exit(3)\n  }\n}\n',
        "object Main {\n  def main(args: Array[String]): Unit = {\n    val x = \n  }\n}\n",
    ),
    "clojure": Programs(
        "(let [n (Integer/parseInt (clojure.string/trim (read-line)))]\n  (println (* n 2)))\n",
        '(binding [*out* *err*] (println "boom"))\n(System/exit 3)\n',
    ),
    "racket": Programs(
        "#lang racket/base\n(define n (read))\n(displayln (* n 2))\n",
        '#lang racket/base\n(eprintf "boom\\n")\n(exit 3)\n',
    ),
    "scheme": Programs(
        "(display (* (read) 2))\n(newline)\n",
        '(display "boom\\n" (current-error-port))\n(exit 3)\n',
    ),
    "commonlisp": Programs(
        '(let ((n (read))) (format t "~a~%" (* n 2)))\n',
        '(format *error-output* "boom~%")\n(sb-ext:exit :code 3)\n',
    ),
    "erlang": Programs(
        "-module(main).\n-export([main/0]).\n\nmain() ->\n"
        '    {ok, [N]} = io:fread("", "~d"),\n    io:format("~p~n", [N * 2]).\n',
        "-module(main).\n-export([main/0]).\n\nmain() ->\n"
        '    io:format(standard_error, "boom~n", []),\n    halt(3).\n',
        '-module(main).\n-export([main/0]).\n\nmain() -> io:format("x"\n',
    ),
    "elixir": Programs(
        'n = IO.gets("") |> String.trim() |> String.to_integer()\nIO.puts(n * 2)\n',
        'IO.puts(:stderr, "boom")\nSystem.halt(3)\n',
    ),
    "r": Programs(
        'n <- as.integer(readLines(file("stdin"), n = 1))\ncat(n * 2, "\\n", sep = "")\n',
        'message("boom")\nquit(status = 3)\n',
    ),
    "octave": Programs(
        'n = str2double(fgetl(stdin));\nprintf("%d\\n", n * 2);\n',
        'fprintf(stderr, "boom\\n");\nexit(3);\n',
    ),
    "tcl": Programs("gets stdin n\nputs [expr {$n * 2}]\n", "puts stderr boom\nexit 3\n"),
    "awk": Programs(
        "{ print $1 * 2 }\n", 'BEGIN {\n    print "boom" > "/dev/stderr"\n    exit 3\n}\n'
    ),
    # The program is an SQL script; stdin is not read (the contract says so).
    "sqlite": Programs(
        "CREATE TABLE t (n INTEGER);\nINSERT INTO t VALUES (21);\nSELECT n * 2 FROM t;\n",
        "SELECT 1 FROM no_such_table;\n",
    ),
    "prolog": Programs(
        ":- initialization(main, main).\n\nmain :-\n    read_line_to_string(user_input, S),\n"
        '    number_string(N, S),\n    M is N * 2,\n    format("~d~n", [M]).\n',
        ':- initialization(main, main).\n\nmain :-\n    format(user_error, "boom~n", []),\n'
        "    halt(3).\n",
    ),
    "cobol": Programs(
        _COBOL_HEAD + "       DATA DIVISION.\n       WORKING-STORAGE SECTION.\n"
        "       01 S PIC X(20).\n       01 R PIC Z(8)9.\n       PROCEDURE DIVISION.\n"
        "           ACCEPT S.\n           COMPUTE R = FUNCTION NUMVAL(S) * 2.\n"
        "           DISPLAY FUNCTION TRIM(R).\n           STOP RUN.\n",
        _COBOL_HEAD + "       PROCEDURE DIVISION.\n           DISPLAY 'boom' UPON SYSERR.\n"
        "           MOVE 3 TO RETURN-CODE.\n           STOP RUN.\n",
        _COBOL_HEAD + "       PROCEDURE DIVISON.\n           DISPLAY 'x'\n",
    ),
    # Echoes its input (reading and converting numbers in assembly would hide the point).
    "assembly": Programs(
        "section .bss\nbuf: resb 64\nsection .text\nglobal _start\n_start:\n"
        "    xor rax, rax\n    xor rdi, rdi\n    mov rsi, buf\n    mov rdx, 64\n    syscall\n"
        "    mov rdx, rax\n    mov rax, 1\n    mov rdi, 1\n    mov rsi, buf\n    syscall\n"
        "    mov rax, 60\n    xor rdi, rdi\n    syscall\n",
        'section .data\nmsg: db "boom", 10\nsection .text\nglobal _start\n_start:\n'
        "    mov rax, 1\n    mov rdi, 2\n    mov rsi, msg\n    mov rdx, 5\n    syscall\n"
        "    mov rax, 60\n    mov rdi, 3\n    syscall\n",
        "section .text\nglobal _start\n_start:\n    mov rax,\n",
    ),
    "objectivec": Programs(
        "#import <objc/Object.h>\n#include <stdio.h>\n\n@interface Doubler : Object\n"
        "+ (int) twice: (int) n;\n@end\n\n@implementation Doubler\n"
        "+ (int) twice: (int) n { return 2 * n; }\n@end\n\nint main(void) {\n    int n;\n"
        '    if (scanf("%d", &n) != 1) return 1;\n    printf("%d\\n", [Doubler twice: n]);\n'
        "    return 0;\n}\n",
        _C_FAIL,
        "@interface Broken\n+ (int) x\n@end\nint main(void) { return 0 }\n",
    ),
    "groovy": Programs(
        "def n = System.in.newReader().readLine().trim() as int\nprintln n * 2\n",
        'System.err.println "boom"\nSystem.exit(3)\n',
    ),
    "nim": Programs(
        "import strutils\nlet n = stdin.readLine().strip().parseInt()\necho n * 2\n",
        'quit("boom", 3)\n',
        "let x = \n",
    ),
    "forth": Programs(
        "create buf 80 allot\nbuf 80 stdin read-line throw drop\n"
        "buf swap s>number? 0= throw d>s 2 * . cr\n",
        's" boom" stderr write-line throw\n3 (bye)\n',
    ),
    "raku": Programs("my $n = get;\nsay $n * 2;\n", 'note "boom";\nexit 3;\n'),
    "vala": Programs(
        "void main () {\n    int n = int.parse (stdin.read_line ());\n"
        '    print ("%d\\n", n * 2);\n}\n',
        'int main () {\n    stderr.printf ("boom\\n");\n    return 3;\n}\n',
        "void main () {\n    int x = ;\n}\n",
    ),
    "crystal": Programs(
        "n = gets.not_nil!.strip.to_i\nputs n * 2\n",
        'STDERR.puts "boom"\nexit 3\n',
        "puts (\n",
    ),
    "zsh": Programs("read n\necho $((n * 2))\n", "echo boom >&2\nexit 3\n"),
    "coffeescript": Programs(
        "n = parseInt require('fs').readFileSync(0, 'utf8')\nconsole.log n * 2\n",
        'console.error "boom"\nprocess.exit 3\n',
    ),
}
