"""The similarity report (issue #17) on a corpus we wrote: for each assignment, eight
independently written correct solutions (tests/similarity_corpus/<assignment>/aNN.txt, checked
against the reference here) and disguised copies of four of them. Every copy must rank above
every independent pair, no independent pair and no untouched stub may be flagged."""
from __future__ import annotations

import csv
import functools
import importlib.util
import itertools
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader import declaration
from grader.similarity import command, sources
from grader.similarity.compare import Settings, boilerplate_hashes, compare, unit_flagged
from grader.similarity.normalize import file_units


def _load_corpus():
    """tests/similarity_corpus/corpus.py under a name no other helper module can shadow."""
    path = Path(__file__).resolve().parent / "similarity_corpus" / "corpus.py"
    spec = importlib.util.spec_from_file_location("gradekit_similarity_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus()

COPIED = {"softmax": ("a01", "a03", "a05", "a07"), "two_layer_net": ("a01", "a02", "a04", "a06"),
          "convnet": ("a01", "a03", "a05", "a08")}


@functools.cache
def built(assignment: str) -> dict[str, dict[str, str]]:
    """author -> graded files, the independent solutions and the disguised copies."""
    out = {a: corpus.build(assignment, text) for a, text in corpus.sources(assignment).items()}
    for i, author in enumerate(COPIED[assignment]):
        out[f"copy_{author}"] = corpus.disguise(out[author], seed=100 + i)
    for name, text in corpus.hand_copies(assignment).items():
        out[name] = corpus.build(assignment, text)
    return out


def copy_pairs(assignment: str) -> set[frozenset[str]]:
    """Each disguised copy with its original."""
    return {frozenset((name.split("_", 1)[1], name)) for name in built(assignment)
            if name.startswith(("copy_", "hand_"))}


def _stub_files(assignment: str) -> dict[str, str]:
    return {f: corpus.stub_text(assignment, f) for f in corpus.FILES[assignment]}


@functools.cache
def compared(assignment: str):
    decl = declaration.load(assignment)
    stub = sources.load_stub(decl)
    docs = [sources.doc_from_texts(name, files, stub) for name, files in built(assignment).items()]
    docs += [sources.doc_from_texts(f"stub{i}", _stub_files(assignment), stub) for i in range(3)]
    boiler = boilerplate_hashes(sources.stub_units(stub), Settings().k)
    return compare(docs, boiler)


# -- the corpus is what it claims to be --------------------------------------------------------
def _check_softmax(files, ref, rng):
    m = corpus.module(files["softmax.py"], "student_softmax")
    W, X, y = rng.standard_normal((7, 4)), rng.standard_normal((11, 7)), rng.integers(0, 4, 11)
    for fn in ("softmax_loss_naive", "softmax_loss_vectorized"):
        (loss, dW), (rloss, rdW) = getattr(m, fn)(W, X, y, 0.1), getattr(ref, fn)(W, X, y, 0.1)
        assert loss == pytest.approx(rloss, abs=1e-9) and np.allclose(dW, rdW), fn
    model = m.Softmax()
    history = model.train(X, y, learning_rate=0.1, num_iters=4, batch_size=5, seed=1)
    assert len(history) == 4 and all(isinstance(v, float) for v in history)
    assert np.array_equal(model.predict(X), np.argmax(X @ model.W, axis=1))


def _check_two_layer_net(files, ref, rng):
    m = corpus.module(files["two_layer_net.py"], "student_tln")
    X, y = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
    mine, theirs = m.TwoLayerNet(5, 4, 3, std=0.5, seed=2), ref.TwoLayerNet(5, 4, 3, std=0.5, seed=2)
    assert np.allclose(mine.loss(X), theirs.loss(X))
    (loss, grads), (rloss, rgrads) = mine.loss(X, y, reg=0.1), theirs.loss(X, y, reg=0.1)
    assert loss == pytest.approx(rloss, abs=1e-9)
    assert all(np.allclose(grads[k], rgrads[k]) for k in rgrads)
    assert np.array_equal(mine.predict(X), theirs.predict(X))
    hist = mine.train(X, y, X, y, learning_rate=0.1, num_iters=6, batch_size=3, seed=1)
    rhist = theirs.train(X, y, X, y, learning_rate=0.1, num_iters=6, batch_size=3, seed=1)
    assert {k: len(v) for k, v in hist.items()} == {k: len(v) for k, v in rhist.items()}


def _check_convnet(files, refs, rng):
    layers = corpus.module(files["layers.py"], "student_layers")
    optim = corpus.module(files["optim.py"], "student_optim")
    ref, ref_optim = refs
    x, w, b = rng.standard_normal((3, 2, 5, 6)), rng.standard_normal((60, 4)), rng.standard_normal(4)
    (out, cache), (rout, rcache) = layers.affine_forward(x, w, b), ref.affine_forward(x, w, b)
    assert np.allclose(out, rout)
    d = rng.standard_normal(out.shape)
    assert all(np.allclose(u, v) for u, v in zip(layers.affine_backward(d, cache),
                                                  ref.affine_backward(d, rcache)))
    (out, cache), (rout, rcache) = layers.relu_forward(x), ref.relu_forward(x)
    d = rng.standard_normal(x.shape)
    assert np.allclose(out, rout) and np.allclose(layers.relu_backward(d, cache),
                                                   ref.relu_backward(d, rcache))
    s, labels = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    (loss, dx), (rloss, rdx) = layers.softmax_loss(s, labels), ref.softmax_loss(s, labels)
    assert loss == pytest.approx(rloss, abs=1e-9) and np.allclose(dx, rdx)
    wc, bc = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    for cp in ({"stride": 1, "pad": 1}, {"stride": 2, "pad": 0}):
        assert np.allclose(layers.conv_forward_naive(x, wc, bc, cp)[0],
                           ref.conv_forward_naive(x, wc, bc, cp)[0])
    for pp in ({"pool_height": 2, "pool_width": 2, "stride": 2},
               {"pool_height": 3, "pool_width": 2, "stride": 1}):
        assert np.allclose(layers.max_pool_forward_naive(x, pp)[0],
                           ref.max_pool_forward_naive(x, pp)[0])
    w2, dw = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    mine, theirs = {}, {}
    for _ in range(2):
        (nw, mine), (rw, theirs) = optim.sgd_momentum(w2, dw, mine), ref_optim.sgd_momentum(w2, dw, theirs)
        assert np.allclose(nw, rw)


CHECKS = {"softmax": (_check_softmax, lambda: corpus.reference("softmax", "softmax.py")),
          "two_layer_net": (_check_two_layer_net,
                            lambda: corpus.reference("two_layer_net", "two_layer_net.py")),
          "convnet": (_check_convnet, lambda: (corpus.reference("convnet", "layers.py"),
                                               corpus.reference("convnet", "optim.py")))}


@pytest.mark.parametrize("assignment", sorted(COPIED))
def test_the_corpus_solutions_and_copies_are_correct(assignment):
    check, ref = CHECKS[assignment]
    refs = ref()
    solutions = built(assignment)
    assert sum(not a.startswith(("copy_", "hand_")) for a in solutions) >= 8
    for author, files in solutions.items():
        try:
            check(files, refs, np.random.default_rng(0))
        except AssertionError as exc:
            raise AssertionError(f"{assignment} {author}: {exc}") from exc


# -- the three promises ------------------------------------------------------------------
@pytest.mark.parametrize("assignment", sorted(COPIED))
def test_every_disguised_copy_ranks_above_every_independent_pair(assignment):
    c = compared(assignment)
    score = {frozenset((p.a, p.b)): p for p in c.pairs}
    copies = {pair: score.get(pair) for pair in copy_pairs(assignment)}
    assert len(copies) >= 4 and all(p is not None and p.flagged for p in copies.values()), copies
    authors = [a for a in built(assignment) if not a.startswith(("copy_", "hand_"))]
    independent = [score.get(frozenset(pair)) for pair in itertools.combinations(authors, 2)]
    worst_copy = min(p.score for p in copies.values())
    best_independent = max((p.score for p in independent if p), default=0.0)
    assert worst_copy > best_independent, (worst_copy, best_independent)
    assert not [p for p in independent if p and p.flagged]
    flagged = {frozenset((p.a, p.b)) for p in c.pairs if p.flagged}
    assert flagged == copy_pairs(assignment)


@pytest.mark.parametrize("assignment", sorted(COPIED))
def test_untouched_stubs_are_never_paired(assignment):
    c = compared(assignment)
    assert not [p for p in c.pairs if p.a.startswith("stub") or p.b.startswith("stub")]


def test_the_reference_solution_as_boilerplate_unflags_two_who_submitted_it():
    """Two students who both hand in a known public solution are a pair; given that solution
    as staff boilerplate, they are not (and a real copy pair still is)."""
    decl = declaration.load("softmax")
    stub = sources.load_stub(decl)
    ref = (corpus.ROOT / "reference" / "softmax" / "softmax.py").read_text("utf-8")
    docs = [sources.doc_from_texts(n, {"softmax.py": ref}, stub) for n in ("p1", "p2")]
    docs += [sources.doc_from_texts(n, built("softmax")[n], stub) for n in ("a03", "copy_a03", "a02")]
    k = Settings().k
    plain = compare(docs, boilerplate_hashes(sources.stub_units(stub), k))
    public = sources.boilerplate_units(corpus.ROOT / "reference" / "softmax")
    cleaned = compare(docs, boilerplate_hashes(sources.stub_units(stub) + public, k))
    flagged = lambda c: {frozenset((p.a, p.b)) for p in c.pairs if p.flagged}  # noqa: E731
    assert frozenset(("p1", "p2")) in flagged(plain)
    assert flagged(cleaned) == {frozenset(("a03", "copy_a03"))}


# -- normalisation ------------------------------------------------------------------------------
PLAIN = '''import numpy as np
def f(a, b):
    """Docstring."""
    h = np.maximum(a.dot(b), 0)  # relu
    return np.sum(h, axis=1)
'''
DISGUISED = '''import numpy as xp


def f(a, b):
    # another comment
    hidden_units: object = xp.maximum(xp.dot(a, b),
                                      0)
    pass
    return xp.sum(hidden_units, axis = 1)
'''
CHANGED = PLAIN.replace("np.sum(h", "np.mean(h")


def _tokens(text: str) -> tuple[str, ...]:
    units, parsed = file_units(text, frozenset({"f"}), frozenset())
    assert parsed
    return units[0].tokens


def test_normalisation_erases_cheap_disguises_and_keeps_real_changes():
    assert _tokens(PLAIN) == _tokens(DISGUISED)
    assert _tokens(PLAIN) != _tokens(CHANGED)
    assert _tokens(PLAIN.replace("a.dot(b)", "a @ b")) == _tokens(PLAIN)
    assert _tokens(PLAIN.replace("a.dot(b)", "np.matmul(a, b)")) == _tokens(PLAIN)


def test_a_file_that_does_not_parse_is_still_compared_per_function():
    files = built("two_layer_net")["a04"]
    broken = {"two_layer_net.py": files["two_layer_net.py"] + "\ndef oops(:\n"}
    decl = declaration.load("two_layer_net")
    stub = sources.load_stub(decl)
    doc = sources.doc_from_texts("broken", broken, stub)
    assert not doc.parsed and "two_layer_net.py: TwoLayerNet.loss" in doc.units
    docs = [doc] + [sources.doc_from_texts(a, built("two_layer_net")[a], stub)
                    for a in ("a04", "a01", "a05")]
    c = compare(docs, boilerplate_hashes(sources.stub_units(stub), Settings().k))
    assert (c.pairs[0].a, c.pairs[0].b) in (("broken", "a04"), ("a04", "broken"))
    assert c.pairs[0].flagged and not any(p.flagged for p in c.pairs[1:])


# -- the command line, through intake, with hostile names and text -------------------------------
HOSTILE = '</pre><script>alert(1)</script>'


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def small_class(root: Path) -> tuple[Path, Path]:
    """A softmax class (a folder, a zip, a hostile name and code, a stub) and an earlier term."""
    solutions = built("softmax")
    cls, past = root / "class", root / "past-term"
    _write(cls / "ada", solutions["a03"])
    hostile = {"softmax.py": re.sub(r"(?m)^( +)return ", rf"\1# {HOSTILE}\n\1return ",
                                    solutions["copy_a03"]["softmax.py"])}
    _write(cls / "<b>bo", hostile)
    with zipfile.ZipFile(cls / "cy.zip", "w") as zf:
        zf.writestr("softmax.py", solutions["a02"]["softmax.py"])
    _write(cls / "dee", _stub_files("softmax"))
    _write(past / "old1", solutions["copy_a05"])
    _write(past / "old2", solutions["a05"])
    _write(cls / "eve", solutions["a05"])
    return cls, past


def test_the_command_writes_a_ranked_csv_and_a_safe_page(tmp_path, capsys):
    cls, past = small_class(tmp_path)
    out = tmp_path / "out"
    assert command.main(["softmax", str(cls), "--against", str(past), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "similarity.csv", encoding="utf-8")))
    flagged = {frozenset((r["a"], r["b"])) for r in rows if r["flagged"] == "1"}
    bo = next(r["a"] if "bo" in r["a"] else r["b"] for r in rows if "bo" in r["a"] + r["b"])
    assert frozenset(("ada", bo)) in flagged
    assert frozenset(("eve", "past-term/old2")) in flagged and frozenset(("eve", "past-term/old1")) in flagged
    assert not [r for r in rows if r["a"].startswith("past-term/") and r["b"].startswith("past-term/")]
    assert not [r for r in rows if "dee" in (r["a"], r["b"])]
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;" in page
    assert "not a verdict" in page.lower()
    assert "flagged" in capsys.readouterr().out


def test_the_command_refuses_nothing_to_compare(tmp_path):
    with pytest.raises(SystemExit):
        command.main(["softmax", "--out", str(tmp_path)])



LECTURE_HELPER = '''

def lecture_softmax(scores):
    """The softmax from the lecture notes, which every student pasted."""
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    exps = np.exp(shifted)
    total = np.sum(exps, axis=1, keepdims=True)
    probs = exps / total
    for row in range(probs.shape[0]):
        assert abs(np.sum(probs[row]) - 1.0) < 1e-6, "rows must sum to one"
    return probs
'''


def test_a_fragment_the_whole_class_shares_is_not_evidence():
    """Eight independent students who all paste the lecture's helper: with the class-wide cut
    (the default) the helper is masked and no function is flagged; without it, the helper
    alone flags pairs."""
    decl = declaration.load("softmax")
    stub = sources.load_stub(decl)
    docs = [sources.doc_from_texts(a, {"softmax.py": files["softmax.py"] + LECTURE_HELPER}, stub)
            for a, files in built("softmax").items() if not a.startswith(("copy_", "hand_"))]
    boiler = boilerplate_hashes(sources.stub_units(stub), Settings().k)
    helper_flags = lambda c: [(p.a, p.b) for p in c.pairs for m in p.units  # noqa: E731
                              if m.unit.endswith("(helpers)") and unit_flagged(m, c.settings)]
    default = compare(docs, boiler)
    assert default.ignored_common > 0 and not helper_flags(default)
    assert not [p for p in default.pairs if p.flagged]
    without_cut = compare(docs, boiler, Settings(common_fraction=1.0))
    assert without_cut.ignored_common == 0 and helper_flags(without_cut)


def test_hostile_files_are_compared_or_skipped_never_a_crash(tmp_path):
    cls = tmp_path / "class"
    bad = {"nul": b"def softmax_loss_naive(W, X, y, reg):\n    return \x00\xff\xfe (\n",
           "deep": b"def softmax_loss_naive(W, X, y, reg):\n    return " + b"(" * 5000 + b")" * 5000,
           "long": b"def softmax_loss_naive(W, X, y, reg):\n    x = " + b"1 + " * 30_000 + b"1\n",
           "latin1": "# -*- coding: latin-1 -*-\ndef f():\n    return 'é'\n".encode("latin-1")}
    for name, raw in bad.items():
        (cls / name).mkdir(parents=True)
        (cls / name / "softmax.py").write_bytes(raw)
    _write(cls / "ok", built("softmax")["a01"])
    out = tmp_path / "out"
    assert command.main(["softmax", str(cls), "--out", str(out)]) == 0
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert "5 submissions" in page and "\x00" not in page
