"""What SmolLM2-135M-Instruct (llama-cpp-python 0.3.36, ../shared/realmodel/serve-smollm2) replied to `generate` over
SQuAD 2.0's Normans paragraphs (2026-11-27, `overwrite: true`, temperature 0), replayed on the loopback test server
(tests/llmserver.py) so it runs without the real model. Every reply below is SmolLM2's own, verbatim."""

from __future__ import annotations

import json

import pytest
from helpers import build_in
from test_realmodel5 import flat, golds, recipe, squad_head

from tests.llmserver import LLMServer
from tests.test_realmodel import MODEL, server  # noqa: F401, F811  (the real-model tier's server fixture)

SMOLLM2 = {  # question -> SmolLM2's reply to the prompt that names "unanswerable"
    "Who assimilted the Roman language?": 'The answer is "unanswerable"',
    "when did Nors encampments ivolve into destructive incursions?": 'The answer is "unanswerable"',
    "Who upon arriving gave the original viking settlers a common identity?": 'The answer is "unanswerable"',
    "What Viking groups were conquered by Rollo?":
        'The answer to the question "What Viking groups were conquered by Rollo?" is not provided in the passage.',
    "Who established a treaty with King Charles the third of France?": 'The answer is "Rollo"',
    "What river originally bounded the Duchy": "The river that originally bounded the Duchy of Normandy was the Seine.",
}
INSTRUCTION = ('Reply with the answer only: words copied from the context, or "unanswerable" if the context does not '
               'answer the question.')


def test_the_generate_prompt_says_how_to_answer_no_answer_and_smollm2s_no_answer_replies_are_the_empty_gold(tmp_path):
    """Asked 'Reply with the answer only.', SmolLM2 never said a question had no answer (31 Normans questions, 17 of
    them unanswerable): it wrote sentences, all dropped as `answer not copied from the context`. The prompt did not say
    how to answer "no answer" though `[]` is the task's gold for it (`unanswerable: true`). Told to reply
    "unanswerable", it did so ('The answer is "unanswerable"') and answered 'The answer is "Rollo"' where it had
    written a sentence; it also wrote 'The answer to the question "…" is not provided in the passage.', which was
    dropped and is now the `[]` gold too. A sentence the passage does not hold is still dropped."""
    source = {"squad": {"catalog": "squad_v2", "path": str(squad_head(tmp_path, 5))}}
    entry = {"source": "squad", "where": " or ".join(f"question == {q!r}" for q in SMOLLM2)}
    with LLMServer(responder=lambda body: next(r for q, r in SMOLLM2.items()
                                               if q in body["messages"][0]["content"])) as srv:
        result = build_in(recipe(tmp_path, srv.base_url, source, entry, overwrite=True), tmp_path)
        prompts = [r.json["messages"][0]["content"] for r in srv.received]
    assert result.exit_code == 0, result.output
    assert len(prompts) == 6 and all(INSTRUCTION in p for p in prompts)
    assert sorted(map(json.dumps, golds(tmp_path))) == ["[]"] * 4 + ['[{"answer": "Rollo"}]']
    assert "dropped answer not copied from the context: 1" in flat(result.output)


def test_says_no_answer_reads_an_answer_not_provided_in_the_passage():
    from humc.build.llmsteps import says_no_answer
    for text in (SMOLLM2["What Viking groups were conquered by Rollo?"],
                 "The answer to this question is not mentioned in the context.", "The answer is not found in the text"):
        assert says_no_answer(text), text
    for text in ('The answer to the question "What name comes from the English words Normans/Normanz?" is "Nordman".',
                 "The answer is not Rollo", "The answer is not provided by Rollo in the passage"):
        assert not says_no_answer(text), text


@pytest.mark.realmodel
def test_smollm2_says_unanswerable_and_humc_reads_it_as_the_empty_gold(tmp_path, server):  # noqa: F811
    """The real-model tier (skipped without a server): the questions above, asked of the real model, give at least
    one `[]` gold (SmolLM2 at temperature 0 said "unanswerable" to three and "not provided" to one) and no record is
    kept whose reply was not read as a span or a no-answer."""
    source = {"squad": {"catalog": "squad_v2", "path": str(squad_head(tmp_path, 5))}}
    entry = {"source": "squad", "where": " or ".join(f"question == {q!r}" for q in SMOLLM2)}
    path = recipe(tmp_path, server, source, entry, overwrite=True)
    path.write_text(path.read_text(encoding="utf-8").replace("test-model", MODEL).replace(
        "max_tokens: 64", "max_tokens: 96\n      temperature: 0.0"), encoding="utf-8")
    result = build_in(path, tmp_path)
    assert result.exit_code == 0, result.output
    kept = golds(tmp_path)
    assert [] in kept
    assert all(g == [] or (len(g) == 1 and set(g[0]) == {"answer"}) for g in kept)
