"""Eval stage: what a built dataset does to a model.

``run.evaluate`` scores a model's answers (``predict``: a predictions file, or an OpenAI-compatible model
through humc's LLM client) to a split's instructions with task metrics (``metrics``), format and rule
adherence (``scoring``), and ``report`` shows, writes and compares the results.
"""
