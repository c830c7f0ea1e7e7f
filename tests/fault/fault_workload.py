"""tests/fault/fault_workload.py — a CPython workload whose allocations fail on purpose
(fault_real.sh python). The loop runs with the thread's pool tag set to "Pyth" through lfh's C API
(ctypes), so LFH_FAULT_TAGS=Pyth fails allocations of the workload only, never of the
interpreter's start-up or shutdown. Each iteration that fails is caught and counted; at the end
lfh_validate() must be clean. Prints "done D MemoryError M other O validate V".
    python3 fault_workload.py ITERATIONS"""
import ctypes
import json
import re
import sys

lfh = ctypes.CDLL(None)   # liblfh.so, preloaded
lfh.lfh_set_thread_tag.argtypes = [ctypes.c_uint32]
lfh.lfh_set_thread_tag.restype = ctypes.c_uint32
TAG = int.from_bytes(b"Pyth", "little")


def untag():
    # The call itself may fail (its argument is converted while the tag is still set): retry.
    while True:
        try:
            lfh.lfh_set_thread_tag(0)
            return
        except (MemoryError, ctypes.ArgumentError):
            pass


def step(i):
    """One tagged iteration: 0 done, 1 MemoryError, 2 another error of CPython's OOM paths."""
    try:
        lfh.lfh_set_thread_tag(TAG)
        a = bytearray(100 + i * 37 % 100000)
        b = [str(x) * 3 for x in range(200)]
        d = {str(k): [k] * 3 for k in range(200)}
        j = json.loads(json.dumps(d))
        m = re.findall(r"\d+", " ".join(b))
        s = "x" * (i * 91 % 70000) + str(i)
        assert len(j) == 200 and len(m) == 200 and len(s) > i * 91 % 70000 and len(a) > 99
        return 0
    except MemoryError:
        return 1
    except AssertionError:
        raise
    except Exception:   # ctypes.ArgumentError wrapping a MemoryError, SystemError, …
        return 2
    finally:
        untag()


counts = [0, 0, 0]
for i in range(int(sys.argv[1])):
    try:
        r = step(i)
    except MemoryError:   # raised while handling the first one, still inside the tagged region
        r = 1
    counts[r] += 1   # untagged here: nothing fails
print("done", counts[0], "MemoryError", counts[1], "other", counts[2], "validate", lfh.lfh_validate())
