"""The type stub matches the compiled module, and the README's Python quickstart runs."""

import ast
import inspect
import pathlib
import re

import sociallens
from sociallens import _native

PKG = pathlib.Path(sociallens.__file__).parent
ROOT = pathlib.Path(__file__).resolve().parents[2]


def stub_tree():
    return ast.parse((PKG / "_native.pyi").read_text())


def test_stub_names_match_module():
    stub_names = {
        n.name if not isinstance(n, ast.AnnAssign) else n.target.id
        for n in stub_tree().body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AnnAssign))
    }
    runtime = {n for n in dir(_native) if not n.startswith("__") or n == "__version__"}
    assert stub_names == runtime


def test_stub_signatures_match_module():
    for node in stub_tree().body:
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(_native, node.name)
        for item in node.body:
            if not isinstance(item, ast.FunctionDef):
                continue
            if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                assert isinstance(inspect.getattr_static(cls, item.name), type(inspect.getattr_static(cls, item.name)))
                assert hasattr(cls, item.name), f"{node.name}.{item.name}"
                continue
            target = cls if item.name == "__init__" else getattr(cls, item.name)
            runtime = [p for p in inspect.signature(target).parameters if p != "self"]
            args = item.args
            stub = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg != "self"]
            assert runtime == stub, f"{node.name}.{item.name}: {runtime} != {stub}"


PUBLIC_CLASSES = {
    "Interest", "EventOutcome", "ForgetReport", "Product", "Recommendation", "ManualClock", "AdsConfig", "Ad",
    "MatchedInterest", "AdMatch", "SimilarUser", "AudienceMember", "IndexStats", "ReportRow", "Report",
}


def test_public_classes_have_properties_in_stub():
    for node in stub_tree().body:
        if isinstance(node, ast.ClassDef) and node.name in PUBLIC_CLASSES:
            props = {i.name for i in node.body if isinstance(i, ast.FunctionDef) and not i.name.startswith("_")}
            runtime = {n for n in dir(getattr(_native, node.name)) if not n.startswith("_")}
            assert props == runtime, node.name


def test_readme_python_quickstart_runs(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
