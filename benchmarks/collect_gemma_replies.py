"""Collect real second-turn replies of the embedded Gemma 3 270M base model.

Wrote tests/data/gemma_replies.jsonl (4 combinations per k = 1, 2, 3, seeded), the
real-output part of the hand-labelled format statuses (docs/analysis.md §4); the
``status`` of each row was then added by hand. Needs skillmix[local]; ~2 min on 1 core.

    python benchmarks/collect_gemma_replies.py OUT.jsonl
"""
import json
import random
import sys

from llama_cpp import Llama

from skillmix.engine.gguf import gguf_path
from skillmix.engine.local_binding import STOP_SEQS
from skillmix.protocol.catalog import load_catalog
from skillmix.protocol.prompts import generation_turns
from skillmix.protocol.sampling import sample_combinations

llm = Llama(model_path=str(gguf_path()), n_ctx=2048, n_threads=1, verbose=False, seed=0)
cat = load_catalog()
out = []
for k in (1, 2, 3):
    for combo in sample_combinations(cat, k, 4, random.Random(k)):
        t1, t2 = generation_turns(combo)
        msgs = [{"role": "user", "content": t1}]
        r1 = llm.create_chat_completion(msgs, max_tokens=120, temperature=0.7, stop=list(STOP_SEQS), seed=k)["choices"][0]["message"]["content"]
        msgs += [{"role": "assistant", "content": r1}, {"role": "user", "content": t2}]
        r2 = llm.create_chat_completion(msgs, max_tokens=120, temperature=0.7, stop=[s for s in STOP_SEQS if s != "Explanation"], seed=k)["choices"][0]["message"]["content"]
        out.append({"k": k, "skills": list(combo.skill_names), "topic": combo.topic.name, "reply": r2})
        print(len(out), repr(r2[:200]), file=sys.stderr, flush=True)
with open(sys.argv[1], "w") as f:
    f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
