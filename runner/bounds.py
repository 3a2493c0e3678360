"""bwf's own bounds on untrusted input, so that a spec from a pull request gets a located
error instead of a hung or exhausted machine. docs/security.md lists each bound and what
it refuses; `runner.limits` holds Batch's limits, which are a different matter.
"""

from __future__ import annotations

# The spec file, checked before it is parsed.
SPEC_BYTES_MAX = 10 * 1024 * 1024

# The YAML document once aliases are expanded: a few anchors can stand for billions of
# nodes, and everything after the loader (schema, templates) walks the expanded form.
YAML_NODES_MAX = 1_000_000
YAML_CHARS_MAX = 20_000_000  # characters of scalars; twice what an alias-free spec can hold
YAML_DEPTH_MAX = 64

# Items of one fan-out (for_each): every item becomes a task in memory.
FAN_OUT_MAX = 1_000_000

# What one template may compute while it renders.
TEMPLATE_TEXT_MAX = 1_000_000  # characters of any text a template builds
TEMPLATE_ITEMS_MAX = 100_000  # items of a list a template builds, and of range()
TEMPLATE_INT_BITS_MAX = 4096  # bits of an integer a template computes (about 1,230 digits)
TEMPLATE_STEPS_MAX = 5_000_000  # loop iterations, calls and operators in one rendering
TEMPLATE_MADE_MAX = 10_000_000  # characters (and list items) one rendering makes in all
# What one rendered template may be: Linux's limit on one argument or environment string.
TEMPLATE_OUTPUT_MAX = 131_072

# The whole spec's rendering: every template of every task.
RENDERED_CHARS_MAX = 256_000_000
RENDER_SECONDS_MAX = 120.0
