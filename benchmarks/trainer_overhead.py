"""FxcostCallback's cost per training step, as a share of the step (target: under 1 % after the
first step, whose count derives the formula).

    python benchmarks/trainer_overhead.py [--out benchmarks/results/trainer_overhead.md]

A 4-layer Llama (hidden 256) trains for 30 steps on the CPU with batches of 4 at lengths drawn
from 32 to 256 (a new length on most steps); the callback records, per step, the seconds it
spent counting and the step's own seconds.
"""

from __future__ import annotations

import statistics
import tempfile
import time

from _bench import emit, options


def main() -> None:
    a = options()
    import torch
    import transformers as T

    from fxcost.integrations.hf import FxcostCallback

    class Recorded(FxcostCallback):
        def __init__(self):
            super().__init__(peak=1e12)
            self.steps: list[tuple[float, float]] = []
            self._t = None

        def on_step_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()
            super().on_step_begin(args, state, control, **kw)

        def on_step_end(self, args, state, control, **kw):
            self.steps.append((self.overhead, time.perf_counter() - self._t))
            super().on_step_end(args, state, control, **kw)

    torch.manual_seed(0)
    cfg = T.LlamaConfig(
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        vocab_size=1000,
        max_position_embeddings=512,
    )
    model = T.LlamaForCausalLM(cfg)
    lengths = [int(n) for n in torch.randint(32, 257, (30,), generator=torch.Generator().manual_seed(0))]

    class Batches(torch.utils.data.Dataset):
        def __len__(self):
            return len(lengths)

        def __getitem__(self, i):
            ids = torch.randint(3, 1000, (4, lengths[i]))
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}

    cb = Recorded()
    with tempfile.TemporaryDirectory() as out:
        args = T.TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=1,
            max_steps=len(lengths),
            logging_steps=10,
            report_to=[],
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
        )
        T.Trainer(
            model=model, args=args, train_dataset=Batches(), data_collator=lambda items: items[0], callbacks=[cb]
        ).train()
    first, rest = cb.steps[0], cb.steps[1:]
    shares = [o / s for o, s in rest]
    lines = [
        f"{len(cb.steps)} steps of a 4-layer Llama (hidden 256) on {torch.get_num_threads()} CPU threads, "
        f"batches of 4 at {len(set(lengths))} lengths from 32 to 256:",
        "",
        f"- first step: {first[0]:.2f} s counting (the formula's derivation) in a {first[1]:.2f} s step",
        f"- after it: counting takes a median {statistics.median(shares):.4%} of a step "
        f"(max {max(shares):.4%}; median step {statistics.median(s for _, s in rest):.3f} s, "
        f"median count {statistics.median(o for o, _ in rest) * 1e6:.0f} µs)",
    ]
    emit("\n".join(lines), a.out)


if __name__ == "__main__":
    main()
