"""The languages the Docker tests run, whose images ``scripts/test-services`` builds: the
six first languages and four of the new ones (small and quick to install)."""

LANGUAGES = ("python", "javascript", "c", "cpp", "java", "bash", "lua", "ruby", "php", "go")
