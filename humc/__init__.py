"""humc — the Hum recipe compiler.

Pipeline stages, one module each, dependencies pointing one way:
parse (yamlsrc, expr) -> validate (validate) -> IR (ir) -> plan (plan) -> execute (execute) -> write/publish (writer, card, publish).
"""

__version__ = "0.1.0"

# Bumped whenever the meaning of a cached node result changes; part of every fingerprint.
FORMAT_VERSION = "2"  # 2: render/check drop problem records and report them (build/problems.py)
