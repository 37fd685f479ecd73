"""Run every benchmark (each in its own process) and print one JSON document with their results.

Each benchmark prints JSON on its last line and compares against its own baseline in the same run; this only
collects them. Talks to 127.0.0.1 only.
"""

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["mapping.py", "read_orders.py", "sandbox_capacity.py", "orders.py", "fulfillment.py", "inventory.py"]
# Shorter settings for the whole-suite run (the full inventory run is 10 minutes steady plus a burst).
SHORT = {"inventory.py": ["--minutes", "1", "--skus", "300", "--burst", "500", "--naive-minutes", "1"]}


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    try:
        return json.loads(text)
    except ValueError:
        return None


def main():
    results = {}
    for name in BENCHMARKS:
        run = subprocess.run([sys.executable, str(HERE / name), *SHORT.get(name, [])], cwd=HERE.parent,
                             capture_output=True, text=True, timeout=1200)
        results[name] = last_json(run.stdout) if run.returncode == 0 else {
            "failed": run.returncode, "stderr": run.stderr[-2000:]}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
