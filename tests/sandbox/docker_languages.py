"""The languages the Docker tests run, whose images ``scripts/test-services`` builds: the
six first languages and five of the new ones, small and quick to install, among them Go (the
TOML's env) and TypeScript (its support files)."""

LANGUAGES = (
    "python",
    "javascript",
    "c",
    "cpp",
    "java",
    "bash",
    "lua",
    "ruby",
    "php",
    "go",
    "typescript",
)
