"""What SmolLM2-135M-Instruct (llama-cpp-python 0.3.36, ../shared/realmodel/serve-smollm2) replied to `generate` over
SQuAD 2.0's Normans paragraphs (2026-11-27, `overwrite: true`, temperature 0), replayed on the loopback test server
(tests/llmserver.py) so it runs without the real model. Every reply below is SmolLM2's own, verbatim."""

from __future__ import annotations

SMOLLM2 = {  # question -> SmolLM2's reply to the prompt that names "unanswerable"
    "Who assimilted the Roman language?": 'The answer is "unanswerable"',
    "when did Nors encampments ivolve into destructive incursions?": 'The answer is "unanswerable"',
    "Who upon arriving gave the original viking settlers a common identity?": 'The answer is "unanswerable"',
    "What Viking groups were conquered by Rollo?":
        'The answer to the question "What Viking groups were conquered by Rollo?" is not provided in the passage.',
    "Who established a treaty with King Charles the third of France?": 'The answer is "Rollo"',
    "What river originally bounded the Duchy": "The river that originally bounded the Duchy of Normandy was the Seine.",
}


def test_says_no_answer_reads_an_answer_not_provided_in_the_passage():
    from humc.build.llmsteps import says_no_answer
    for text in (SMOLLM2["What Viking groups were conquered by Rollo?"],
                 "The answer to this question is not mentioned in the context.", "The answer is not found in the text"):
        assert says_no_answer(text), text
    for text in ('The answer to the question "What name comes from the English words Normans/Normanz?" is "Nordman".',
                 "The answer is not Rollo", "The answer is not provided by Rollo in the passage"):
        assert not says_no_answer(text), text
