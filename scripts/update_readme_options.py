#!/usr/bin/env python3
"""Regenerate README.md's environment-variable table from src/base/options.h.

    python3 scripts/update_readme_options.py BUILD_DIR/tests/docs/options_doc

Replaces the lines between <!-- options:begin --> and <!-- options:end --> with the output of
`options_doc --markdown`. CTest's docs_options_table fails while they differ."""
import pathlib
import subprocess
import sys

tool = sys.argv[1] if len(sys.argv) > 1 else "build/tests/docs/options_doc"
readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
rows = subprocess.run([tool, "--markdown"], check=True, capture_output=True, text=True).stdout
text = readme.read_text()
begin, end = "<!-- options:begin -->\n", "<!-- options:end -->"
i, j = text.index(begin) + len(begin), text.index(end)
readme.write_text(text[:i] + rows + text[j:])
print(f"README.md: {rows.count(chr(10)) - 2} option rows")
