"""An allocation-heavy Python workload with deterministic output: dicts, lists, strings, sets,
JSON round trips and sorting. Prints a digest of everything it built, so runs on two allocators
can be compared line by line."""
import hashlib
import json
import random

rng = random.Random(12345)
digest = hashlib.sha256()

# Many small objects: dicts of lists of strings, rebuilt and discarded repeatedly.
for round_ in range(30):
    table = {}
    for i in range(3000):
        key = "k%d-%d" % (round_, rng.randrange(100000))
        table.setdefault(key, []).append(str(i) * rng.randrange(1, 20))
    digest.update(repr(sorted(table.items())[:50]).encode())

# Strings of every size, joined and split.
words = ["".join(chr(97 + rng.randrange(26)) for _ in range(rng.randrange(1, 60))) for _ in range(40000)]
text = " ".join(words)
digest.update(text.upper().encode())
digest.update(str(sorted(set(text.split()))[:100]).encode())

# Big lists and sorting.
numbers = [rng.random() for _ in range(300000)]
numbers.sort()
digest.update(repr(numbers[::1000]).encode())

# JSON round trips of nested documents.
doc = {"items": [{"id": i, "name": words[i % len(words)], "tags": words[i:i + 5], "score": i * 0.5}
                 for i in range(20000)]}
for _ in range(3):
    doc = json.loads(json.dumps(doc, sort_keys=True))
digest.update(json.dumps(doc, sort_keys=True).encode())

# Large buffers (beyond the small-block range).
blobs = [bytes(rng.randrange(256) for _ in range(256)) * rng.randrange(64, 4096) for _ in range(40)]
digest.update(b"".join(blobs))

print("objects", len(table), len(words), len(numbers), len(doc["items"]), len(blobs))
print("digest", digest.hexdigest())
