"""The demo class: a realistic-looking class per assignment, built from the reference.

Every student is the reference (or the untouched stubs) plus small scripted text edits, and
each carries its *intent* — the score band it must land in — so a test can check that the
grader gives every demo student what its edits deserve. An edit whose text is not found
fails the build loudly: a demo student is never silently the reference.

The three assignments use the three intake layouts the batch grader accepts: a folder of
submission folders (softmax), a folder of zips (two_layer_net) and a Gradescope
"Export Submissions" folder with `submission_metadata.yml` (convnet).

    python -m examples.build --out examples/class
"""
from __future__ import annotations

import argparse
import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.declaration import ROOT, load

FORGE = '''
import os as _os, json as _json
for _p in ("/autograder/results/results.json", "results.json", "../results.json",
           "/tmp/results.json"):
    try:
        with open(_p, "w") as _f:
            _json.dump({"score": 100.0, "tests": []}, _f)
    except OSError:
        pass
print('{"score": 100.0}')
_os._exit(0)
'''
CRASH = '\nraise RuntimeError("demo: this module crashes at import")\n'
HANG = '\nwhile True:  # demo: an infinite loop at import\n    pass\n'


@dataclass(frozen=True)
class Student:
    """One demo student: where its files come from, the edits made, the score it deserves."""
    sid: str
    name: str
    story: str
    base: str = "reference"                 # "reference" or "assignments" (the stubs)
    edits: tuple[tuple[str, str, str], ...] = ()  # (file, old text, new text)
    append: tuple[tuple[str, str], ...] = ()      # (file, code appended at module level)
    drop: tuple[str, ...] = ()                    # files left out of the submission
    intent: tuple[float, float] = (100.0, 100.0)  # inclusive score band out of 100
    loses: tuple[str, ...] = ()                   # tags that must lose points


FULL, ZERO, PARTIAL = (100.0, 100.0), (0.0, 0.0), (1.0, 99.0)

CLASS: dict[str, list[Student]] = {
    "softmax": [
        Student("ada", "Ada Lovelace", "a correct, vectorized solution"),
        Student("blank", "Bo Blank", "the untouched stubs", base="assignments", intent=ZERO),
        Student("regbug", "Cy Reg", "regularization gradient reg*W instead of 2*reg*W",
                edits=(("softmax.py", "dW = X.T @ dscores / num_train + 2 * reg * W",
                        "dW = X.T @ dscores / num_train + reg * W"),),
                intent=PARTIAL, loses=("softmax_loss_vectorized",)),
        Student("nomax", "Di Overflow", "no max-subtraction: exp overflows on large logits",
                edits=(("softmax.py", "scores = scores - np.max(scores, axis=1, keepdims=True)",
                        "scores = scores"),),
                intent=PARTIAL, loses=("softmax_loss_vectorized",)),
        Student("slow", "Ed Loop", "'vectorized' loss that calls the naive loops",
                edits=(("softmax.py", "    num_train = X.shape[0]\n    scores = X @ W\n",
                        "    return softmax_loss_naive(W, X, y, reg)\n    num_train = X.shape[0]\n"
                        "    scores = X @ W\n"),),
                intent=PARTIAL, loses=("softmax_loss_vectorized",)),
        Student("crash", "Fay Crash", "crashes at import", append=(("softmax.py", CRASH),),
                intent=ZERO),
        Student("loop", "Gus Spin", "infinite loop in predict",
                edits=(("softmax.py", "        return np.argmax(X @ self.W, axis=1)",
                        "        while True:\n            pass"),),
                intent=PARTIAL, loses=("Softmax.predict",)),
        Student("forger", "Hal Forge", "writes a fake results.json and exits at import",
                append=(("softmax.py", FORGE),), intent=ZERO),
        Student("nofile", "Ivy Gone", "forgot to upload softmax.py", drop=("softmax.py",),
                intent=ZERO),
    ],
    "two_layer_net": [
        Student("ada", "Ada Lovelace", "a correct solution with a filled-in report"),
        Student("blank", "Bo Blank", "the untouched stubs and report template",
                base="assignments", intent=ZERO),
        Student("regbug", "Cy Reg", "regularization gradient reg*W2 instead of 2*reg*W2",
                edits=(("two_layer_net.py", '"W2": hidden.T @ dscores + 2 * reg * W2',
                        '"W2": hidden.T @ dscores + reg * W2'),),
                intent=PARTIAL, loses=("TwoLayerNet.loss",)),
        Student("dbbug", "Dee Bias", "b1 gradient not summed over the batch",
                edits=(("two_layer_net.py", 'grads["b1"] = np.sum(dhidden, axis=0)',
                        'grads["b1"] = dhidden[0]'),),
                intent=PARTIAL, loses=("TwoLayerNet.loss",)),
        Student("slow", "Ed Loop", "correct, but predicts one example at a time",
                edits=(("two_layer_net.py", "        return np.argmax(self.loss(X), axis=1)",
                        "        return np.array([int(np.argmax(self.loss(X[i:i + 1])))\n"
                        "                         for i in range(X.shape[0])], dtype=np.int64)"),),
                intent=FULL),
        Student("crash", "Fay Crash", "crashes at import", append=(("two_layer_net.py", CRASH),),
                intent=(0.0, 15.0)),
        Student("loop", "Gus Spin", "infinite loop at import", append=(("two_layer_net.py", HANG),),
                intent=(0.0, 15.0)),
        Student("forger", "Hal Forge", "writes a fake results.json and exits at import",
                append=(("two_layer_net.py", FORGE),), intent=(0.0, 15.0)),
        Student("noreport", "Ivy Gone", "forgot REPORT.md", drop=("REPORT.md",),
                intent=PARTIAL, loses=("REPORT.md",)),
    ],
    "convnet": [
        Student("ada", "Ada Lovelace", "a correct solution"),
        Student("blank", "Bo Blank", "the untouched stubs", base="assignments", intent=ZERO),
        Student("stride", "Cy Stride", "conv backward (naive) ignores the stride",
                edits=(("layers.py", "                    rows = slice(i * stride, i * stride + hh)\n"
                        "                    cols = slice(j * stride, j * stride + ww)",
                        "                    rows = slice(i, i + hh)\n"
                        "                    cols = slice(j, j + ww)"),),
                intent=PARTIAL, loses=("conv_backward_naive",)),
        Student("adam", "Dee Adam", "Adam never increments t",
                edits=(("optim.py", 't = config["t"] + 1', 't = max(config["t"], 1)'),),
                intent=PARTIAL, loses=("adam",)),
        Student("slow", "Ed Loop", "'fast' conv that calls the naive loops",
                edits=(("layers.py", "    s_n, s_c, s_h, s_w = xp.strides\n",
                        "    return conv_forward_naive(x, w, b, conv_param)\n"
                        "    s_n, s_c, s_h, s_w = xp.strides\n"),),
                intent=PARTIAL, loses=("conv_forward_fast",)),
        Student("crash", "Fay Crash", "cnn.py crashes at import (the layers still count)",
                append=(("cnn.py", CRASH),), intent=PARTIAL, loses=("ThreeLayerConvNet",)),
        Student("loop", "Gus Spin", "infinite loop in rmsprop",
                edits=(("optim.py", '    cache = config.get("cache")',
                        '    while True:\n        pass\n    cache = config.get("cache")'),),
                intent=PARTIAL, loses=("rmsprop",)),
        Student("forger", "Hal Forge", "layers.py forges results.json and exits at import",
                append=(("layers.py", FORGE),), intent=(0.0, 20.0)),
        Student("nooptim", "Ivy Gone", "forgot optim.py", drop=("optim.py",),
                intent=PARTIAL, loses=("adam",)),
    ],
}


def apply_edit(text: str, old: str, new: str, where: str) -> str:
    """Replace `old`, which must occur exactly once, so a changed reference is noticed."""
    if text.count(old) != 1:
        raise ValueError(f"{where}: the text to edit was not found exactly once: {old[:60]!r}")
    return text.replace(old, new)


def reference_copy(assignment: str, dest: Path, edits=(), base: str = "reference") -> Path:
    """The submitted files of `base` (reference or stubs) in `dest`, with (file, old, new) edits."""
    dest.mkdir(parents=True)
    for filename in load(assignment).submitted:
        (dest / filename).write_text((ROOT / base / assignment / filename).read_text())
    for filename, old, new in edits:
        path = dest / filename
        path.write_text(apply_edit(path.read_text(), old, new, f"{assignment}/{filename}"))
    return dest


def _files(assignment: str, student: Student) -> dict[str, str]:
    decl = load(assignment)
    files = {}
    for filename in decl.submitted:
        if filename in student.drop:
            continue
        files[filename] = (ROOT / student.base / assignment / filename).read_text()
    for filename, old, new in student.edits:
        files[filename] = apply_edit(files[filename], old, new,
                                     f"demo student {assignment}/{student.sid}, {filename}")
    for filename, code in student.append:
        files[filename] += code
    return files


def build(out: Path) -> dict[str, dict[str, dict]]:
    """Write the demo class under `out`; return each student's intent by assignment."""
    if out.exists():
        shutil.rmtree(out)
    intents: dict[str, dict[str, dict]] = {}
    for assignment, students in CLASS.items():
        folder = out / assignment
        folder.mkdir(parents=True)
        meta_lines = []
        for number, student in enumerate(students, start=101):
            files = _files(assignment, student)
            if assignment == "two_layer_net":            # a folder of zips
                with zipfile.ZipFile(folder / f"{student.sid}.zip", "w") as zf:
                    for filename, text in sorted(files.items()):
                        zf.writestr(filename, text)
                sub_id = student.sid
            else:
                sub_id = f"submission_{number}" if assignment == "convnet" else student.sid
                (folder / sub_id).mkdir()
                for filename, text in files.items():
                    (folder / sub_id / filename).write_text(text)
            if assignment == "convnet":                  # a Gradescope export
                meta_lines += [f"{sub_id}:", "  :submitters:", f"  - :name: {student.name}",
                               f"    :sid: '{number}'",
                               f"    :email: {student.sid}@example.edu",
                               "  :created_at: 2026-11-20 12:00:00.000000000 -08:00"]
            intents.setdefault(assignment, {})[sub_id] = {
                "name": student.name, "story": student.story, "intent": list(student.intent),
                "loses": list(student.loses)}
        if meta_lines:
            (folder / "submission_metadata.yml").write_text("\n".join(meta_lines) + "\n")
    (out / "intents.json").write_text(json.dumps(intents, indent=2) + "\n")
    return intents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.build", description=__doc__)
    parser.add_argument("--out", default="examples/class", type=Path)
    args = parser.parse_args(argv)
    intents = build(args.out)
    total = sum(len(v) for v in intents.values())
    print(f"demo class: {total} submissions in {args.out} "
          f"({', '.join(f'{a}: {len(v)}' for a, v in intents.items())})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
