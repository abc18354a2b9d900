"""`rlaudit probe fit` / `rlaudit probe score`: a linear probe on a model's activations.

`fit` fits a contrast probe (`rlaudit.interp.labels.fit_contrast_probe`: do-your-best vs
underperform-on-purpose instructions on the task's problems) on MODEL and writes it to ``--out``; its
judgement (kind ``probe``) measures and does not judge (exit 0). `score` runs the ``probe`` audit test
(`rlaudit.audits.probe`) with that file on MODEL: bare target vs control prompts, a verdict, exit 0 or 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rlaudit.cli import (
    HtmlOption,
    JsonOption,
    ModelArgument,
    ThreadsOption,
    app,
    at_least,
    check_html_path,
    emit,
    fail,
    guarded,
)
from rlaudit.cli.options import (
    BatchSizeOption,
    CheckerOption,
    ColumnsOption,
    DeployCueOption,
    DeviceOption,
    DtypeOption,
    ModelOptions,
    TaskOption,
    TrainCueOption,
    TrustRemoteCodeOption,
    check_chat,
    load_model_or_fail,
    resolve_task,
    running,
)

probe_app = typer.Typer(help="Fit a linear probe on a model's activations, or score a model with one.")
app.add_typer(probe_app, name="probe")

SeedOption = Annotated[int, typer.Option(help="Seed of the problems and of the probe's fit.")]
NOption = Annotated[
    int | None, typer.Option("--n", help="Problems (default: the probe test's own).", show_default=False)
]


def require_sklearn() -> None:
    """Fitting needs scikit-learn (the `[train]` extra); without it, one line saying how to get it."""
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        raise fail(
            "fitting a probe needs scikit-learn (the [train] extra): pip install 'scikit-learn==1.9.1'"
        )


def load_probe_or_fail(path: str) -> Any:  # -> Probe
    """The probe in `path` (or a built-in one, ``builtin:NAME``); a missing or malformed file, or an
    unknown built-in name, is bad input (one line naming file and field)."""
    from rlaudit.audits.probe_models import probe_path
    from rlaudit.interp.probes import Probe

    try:
        return Probe.load(probe_path(path))
    except ValueError as e:  # ProbeFileError is one
        raise fail(f"--probe: {e}") from None


def check_probe_fits(model: Any, tokenizer: Any, probe: Any) -> None:
    """A probe whose layer the model lacks, of another width, or that records another base
    (`rlaudit.audits.probe_models.base_mismatch`), is bad input."""
    from rlaudit.audits.probe_models import base_mismatch
    from rlaudit.interp.activations import activations

    mismatch = base_mismatch(model, probe)
    if mismatch is not None:
        raise fail(f"--probe: {mismatch}")

    try:
        x = activations(model, tokenizer, ["1"], layers=(probe.layer,), pooling="last", batch_size=1)
    except ValueError as e:
        raise fail(f"--probe: {e}") from None
    width = x[probe.layer].shape[1]
    if width != probe.coef.shape[0]:
        raise fail(
            f"--probe: field 'coef' reads {probe.coef.shape[0]}-wide activations; layer {probe.layer!r} of "
            f"this model is {width} wide (a probe of another model?)"
        )


@probe_app.command("fit")
@guarded
def fit(
    model: ModelArgument,
    out: Annotated[Path, typer.Option("--out", help="Write the probe (JSON) here.")],
    task: TaskOption = "arith",
    columns: ColumnsOption = None,
    checker: CheckerOption = None,
    train_cue: TrainCueOption = None,
    deploy_cue: DeployCueOption = None,
    layer: Annotated[
        str, typer.Option(help="Layer: a fraction of the depth (0.5), residual:N, or a dotted module name.")
    ] = "0.5",
    pooling: Annotated[str, typer.Option(help="last_prompt or last.")] = "last_prompt",
    n: Annotated[
        int, typer.Option("--n", help="Problems (each asked 8 ways: split x cue x instruction).")
    ] = 64,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
    html: HtmlOption = None,
    threads: ThreadsOption = None,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    batch_size: BatchSizeOption = None,
    trust_remote_code: TrustRemoteCodeOption = False,
) -> None:
    """Fit a contrast probe (do-your-best vs underperform-on-purpose) on a model and save it."""
    chosen = resolve_task(task, columns=columns, checker=checker, train_cue=train_cue, deploy_cue=deploy_cue)
    options = ModelOptions(device, dtype, batch_size, trust_remote_code, threads)
    options.check()
    require_sklearn()
    at_least(("--n", n, 2))
    if pooling not in ("last_prompt", "last"):
        raise fail(f"--pooling: a contrast probe reads prompts only: last_prompt or last (got {pooling!r})")
    if not out.parent.is_dir() or out.is_dir():
        raise fail(f"--out: {out} must be a file in an existing directory")
    check_html_path(html)

    from rlaudit.interp.labels import fit_contrast_probe
    from rlaudit.judgement import Judgement, Provenance, describe_model

    settings = {
        "task": task,
        "layer": layer,
        "pooling": pooling,
        "n": n,
        "out": str(out),
        **options.to_dict(),
    }
    provenance = Provenance.begin(configs={"probe": settings}, seeds={"seed": seed})
    lm, tokenizer = load_model_or_fail(model, options, quiet=as_json)
    provenance.model = describe_model(model, lm)
    check_chat(chosen, tokenizer, task)
    try:
        with running(lm, options, as_json=as_json):
            probe = fit_contrast_probe(
                lm, tokenizer, chosen, layer=layer, pooling=pooling, n_problems=n, seed=seed, model_name=model
            )
    except ValueError as e:  # an unknown layer, too few problems for a held-out split
        raise fail(f"--layer/--n: {e}") from None
    probe.save(out)
    section = {
        "path": str(out),
        **{k: v for k, v in probe.to_dict().items() if k not in ("coef", "mean", "scale")},
    }
    section["width"] = int(probe.coef.shape[0])
    judgement = Judgement("probe", None, [], {"probe": section}, provenance.finish())
    emit(judgement.to_json(), as_json=as_json, html=html, summary=not as_json)


@probe_app.command("score")
@guarded
def score(
    model: ModelArgument,
    probe: Annotated[str, typer.Option("--probe", help="A probe file written by `rlaudit probe fit`.")],
    task: TaskOption = "arith",
    columns: ColumnsOption = None,
    checker: CheckerOption = None,
    train_cue: TrainCueOption = None,
    deploy_cue: DeployCueOption = None,
    n: NOption = None,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
    html: HtmlOption = None,
    threads: ThreadsOption = None,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    batch_size: BatchSizeOption = None,
    trust_remote_code: TrustRemoteCodeOption = False,
) -> None:
    """Score a model's bare target and control prompts with a saved probe: the probe audit test."""
    import dataclasses

    chosen = resolve_task(task, columns=columns, checker=checker, train_cue=train_cue, deploy_cue=deploy_cue)
    options = ModelOptions(device, dtype, batch_size, trust_remote_code, threads)
    options.check()
    at_least(("--n", n, 1))
    check_html_path(html)
    saved = load_probe_or_fail(probe)

    from rlaudit.audits import AuditConfig, run_audit

    config = AuditConfig(seed=seed)
    changes: dict[str, Any] = {"probe": probe}
    if n is not None:
        changes["n_problems"] = n
    config["probe"] = dataclasses.replace(config["probe"], **changes)
    lm, tokenizer = load_model_or_fail(model, options, quiet=as_json)
    check_chat(chosen, tokenizer, task)
    check_probe_fits(lm, tokenizer, saved)
    with running(lm, options, as_json=as_json):
        result = run_audit(lm, tokenizer, chosen, ["probe"], config, model_name=model)
    result.provenance.configs["model"] = options.to_dict()
    result.provenance.configs["probe_file"] = {"path": probe, "data_hash": saved.data_hash}
    emit(result.to_json(), as_json=as_json, html=html)
