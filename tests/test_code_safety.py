"""What rlaudit's own code must never do with untrusted files, checked over every module of src/ by
its syntax tree (so a comment or a docstring that names a call does not count, and an alias does not
hide one):

- no pickle (nor dill, cloudpickle, joblib, shelve, marshal, pandas' read_pickle, numpy's
  allow_pickle, yaml.load without a Loader): loading one runs code;
- `torch.load` only with `weights_only=True`, and no `torch.save` (a pickle): rlaudit writes safetensors;
- `save_pretrained` never with `safe_serialization=False`; a model's `from_pretrained` with
  `use_safetensors=True` (or from a GGUF file, which holds no code);
- `trust_remote_code` never `True` in the code: every parameter or field of that name that has a default
  defaults to False, so only a user's explicit `--trust-remote-code` turns it on;
- no `eval`, `exec` or `subprocess` with `shell=True`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rlaudit"
MODULES = sorted(SRC.rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def violations(tree: ast.AST) -> list[str]:
    """Every breach of the rules above in one module's tree, as 'line N: what'."""
    found: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] in UNSAFE_MODULES:
                    found.append(f"line {line}: imports {name}")
        elif isinstance(node, ast.Call):
            found += [f"line {line}: {v}" for v in _call(node)]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(
                args.defaults
            )
            pairs = [
                *zip(positional, defaults, strict=True),
                *zip(args.kwonlyargs, args.kw_defaults, strict=True),
            ]
            for arg, default in pairs:  # a required parameter is what its caller passes: fine
                if arg.arg == "trust_remote_code" and default is not None and not _is_const(default, False):
                    found.append(f"line {line}: {node.name}(trust_remote_code=...) does not default to False")
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "trust_remote_code"
            and not _is_const(node.value, False)
        ):
            found.append(f"line {line}: field trust_remote_code does not default to False")
    return found


def _call(node: ast.Call) -> list[str]:
    name = _dotted(node.func)
    kw = {k.arg: k.value for k in node.keywords if k.arg is not None}
    out = []
    if name in ("eval", "exec"):
        out.append(f"calls {name}")
    if name == "torch.load" and not _is_const(kw.get("weights_only"), True):
        out.append("torch.load without weights_only=True")
    if name == "torch.save":
        out.append("torch.save writes a pickle; write safetensors")
    if name.split(".")[-1] in ("read_pickle", "to_pickle"):
        out.append(f"{name} reads or writes a pickle")
    if name in ("np.load", "numpy.load") and not _is_const(
        kw.get("allow_pickle", ast.Constant(False)), False
    ):
        out.append(f"{name}(allow_pickle=...) can unpickle")
    if name == "yaml.load" and "Loader" not in kw:
        out.append("yaml.load without a Loader (use yaml.safe_load)")
    if name.endswith(".save_pretrained") and _is_const(kw.get("safe_serialization"), False):
        out.append("save_pretrained(safe_serialization=False) writes a pickle")
    if (
        name.endswith(".from_pretrained")
        and "Model" in name
        and not name.startswith("PeftModel")  # an adapter's weights: peft reads safetensors when present
        and not _is_const(kw.get("use_safetensors"), True)
        and "gguf_file" not in kw
    ):
        out.append(f"{name} without use_safetensors=True")
    if "trust_remote_code" in kw and _is_const(kw["trust_remote_code"], True):
        out.append(f"{name}(trust_remote_code=True)")
    if "shell" in kw and not _is_const(kw["shell"], False):
        out.append(f"{name}(shell=...)")
    return out


def _dotted(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return f"{_dotted(func.value)}.{func.attr}"
    return ""


def _is_const(node: ast.expr | None, value: bool) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def test_there_are_modules_to_check():
    assert len(MODULES) > 50 and SRC / "models" / "loading.py" in MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_is_safe_with_untrusted_files(path: Path):
    assert violations(ast.parse(path.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize(
    "code, expected",
    [
        ("import pickle", "imports pickle"),
        ("from joblib import load", "imports joblib"),
        ("import torch\ntorch.load(f)", "torch.load without weights_only=True"),
        ("import torch\ntorch.load(f, weights_only=False)", "torch.load without weights_only=True"),
        ("import torch\ntorch.save(x, f)", "torch.save writes a pickle"),
        ("m.save_pretrained(d, safe_serialization=False)", "safe_serialization=False"),
        ("AutoModelForCausalLM.from_pretrained(p)", "without use_safetensors=True"),
        ("AutoTokenizer.from_pretrained(p, trust_remote_code=True)", "trust_remote_code=True"),
        ("def load(p, trust_remote_code=True): ...", "does not default to False"),
        ("def load(p, *, trust_remote_code: bool | None = None): ...", "does not default to False"),
        ("class C:\n    trust_remote_code: bool = True", "field trust_remote_code"),
        ("eval(text)", "calls eval"),
        ("pd.read_pickle(path)", "pickle"),
        ("np.load(path, allow_pickle=True)", "allow_pickle"),
        ("yaml.load(text)", "yaml.safe_load"),
        ("subprocess.run(cmd, shell=True)", "shell"),
    ],
)
def test_the_checker_catches_each_unsafe_pattern(code: str, expected: str):
    (hit,) = violations(ast.parse(code))
    assert expected in hit


@pytest.mark.parametrize(
    "code",
    [
        "import torch\ntorch.load(f, weights_only=True)",
        "AutoModelForCausalLM.from_pretrained(p, use_safetensors=True, trust_remote_code=trust_remote_code)",
        "AutoModelForCausalLM.from_pretrained(p, gguf_file=name)",
        "def load(p, trust_remote_code: bool = False): ...",
        "def _load(p, trust_remote_code: bool): ...",
        "model.eval()",
        "np.load(path)",
        "yaml.safe_load(text)",
        "subprocess.run(cmd, check=True)",
    ],
)
def test_the_checker_passes_safe_code(code: str):
    assert violations(ast.parse(code)) == []
