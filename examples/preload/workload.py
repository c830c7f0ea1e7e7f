"""An allocation-heavy Python workload for the README's demo: run it on lfh with
   PYTHONMALLOC=malloc LFH_STATS=1 LD_PRELOAD=build/liblfh.so python3 examples/preload/workload.py
It builds and transforms many small objects (dicts, lists, strings), round-trips them through
JSON, sorts and hashes them, and prints a digest that is the same with any allocator."""
import hashlib
import json
import random

random.seed(42)
records = []
for i in range(120_000):
    records.append({
        "id": i,
        "name": "user%06d" % i,
        "tags": [random.choice("abcdefgh") * random.randint(1, 12) for _ in range(random.randint(0, 6))],
        "score": random.random(),
    })
text = json.dumps(records)
back = json.loads(text)
back.sort(key=lambda r: (r["score"], r["name"]))
words = {}
for r in back:
    for t in r["tags"]:
        words[t] = words.get(t, 0) + 1
chunks = [text[i:i + 4096].upper() for i in range(0, len(text), 4096)]
digest = hashlib.sha256("".join(sorted(words)).encode() + str(len(chunks)).encode()).hexdigest()
print("records:", len(back), "json bytes:", len(text), "distinct tags:", len(words))
print("digest:", digest[:16])
