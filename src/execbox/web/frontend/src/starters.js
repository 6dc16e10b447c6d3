// Starter programs for when GET /api/languages carries no "starter" field.
// They mirror the `starter` entries of src/execbox/languages/data/*.toml.
export const STARTERS = {
  python: "print('Hello')\nprint(2 + 2)\n",
  javascript: "console.log('Hello');\nconsole.log(2 + 2);\n",
  c: '#include <stdio.h>\n\nint main(void) {\n    printf("Hello\\n%d\\n", 2 + 2);\n    return 0;\n}\n',
  cpp: '#include <iostream>\n\nint main() {\n    std::cout << "Hello\\n" << 2 + 2 << std::endl;\n}\n',
  java:
    'public class Main {\n    public static void main(String[] args) {\n        System.out.println("Hello");\n        System.out.println(2 + 2);\n    }\n}\n',
  bash: "echo Hello\necho $((2 + 2))\n",
};

export function starterFor(language) {
  if (!language) return "";
  if (typeof language.starter === "string") return language.starter;
  return STARTERS[language.id] ?? "";
}
