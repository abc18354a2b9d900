"""`rlaudit audit`: active checkpoint tests (context gap, noise sweep, SFT elicitation, pass@k ceiling; on
request a linear probe and the latent distance)."""

from __future__ import annotations

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
    checker_errors_fail,
    emit,
    fail,
    guarded,
)
from rlaudit.cli.executor_options import RayAddressOption, RayOption, check_ray
from rlaudit.cli.options import (
    BatchSizeOption,
    CheckerOption,
    ColumnsOption,
    DeployCueOption,
    DeviceOption,
    DtypeOption,
    MaxNewTokensOption,
    ModelOptions,
    TaskOption,
    TrainCueOption,
    TrustRemoteCodeOption,
    check_chat,
    load_model_or_fail,
    resolve_task,
    running,
)


@app.command()
@guarded
def audit(
    model: ModelArgument,
    task: TaskOption = "arith",
    columns: ColumnsOption = None,
    checker: CheckerOption = None,
    train_cue: TrainCueOption = None,
    deploy_cue: DeployCueOption = None,
    tests: Annotated[
        str,
        typer.Option(
            help="Comma-separated audits: context, noise, sft, passk (the default set), probe, latent."
        ),
    ] = "context,noise,sft,passk",
    seed: Annotated[
        int, typer.Option(help="Seed of the prompts, noise draws, demonstrations and samples.")
    ] = 0,
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            help="Problems per test (each asked under both tags and both cues); default: each test's own.",
            show_default=False,
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            help="A trusted model (the checkpoint before RL, or an honest one of the same base): the SFT "
            "elicitation comparison, and the latent test's shift per split.",
            show_default=False,
        ),
    ] = None,
    probe: Annotated[
        str | None,
        typer.Option(
            "--probe",
            help="A probe file (rlaudit probe fit) for the probe test, or builtin:tiny-organisms (a "
            "labelled-models probe of tiny-base models only); default: fit a contrast probe on the audited "
            "model.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    html: HtmlOption = None,
    threads: ThreadsOption = None,
    max_new_tokens: MaxNewTokensOption = None,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "auto",
    batch_size: BatchSizeOption = None,
    trust_remote_code: TrustRemoteCodeOption = False,
    ray: RayOption = False,
    ray_address: RayAddressOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Run each test as a job on this many workers (one torch thread each): processes, or Ray "
            "tasks with --ray. Same results as one process.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Audit a checkpoint for exploration hacking: verdict, findings, report, exit code."""
    import dataclasses

    chosen = resolve_task(
        task,
        columns=columns,
        checker=checker,
        train_cue=train_cue,
        deploy_cue=deploy_cue,
        max_new_tokens=max_new_tokens,
    )
    options = ModelOptions(device, dtype, batch_size, trust_remote_code, threads)
    options.check()
    use_ray = check_ray(ray, ray_address)
    at_least(("--workers", workers, 1))
    from rlaudit.audits import AuditConfig, parse_tests

    try:
        names = parse_tests(tests)
    except ValueError as e:
        raise fail(f"--tests: {e}") from None
    at_least(("--n", n, 1))
    check_html_path(html)
    from rlaudit.audits import AUDITS

    takers = [cli for cli, a in AUDITS.items() if a.takes_reference]
    if reference is not None and not set(takers) & set(names):
        raise fail(f"--reference is only used by the {' and '.join(takers)} tests; add one to --tests")
    if probe is not None and "probe" not in names:
        raise fail("--probe is only used by the probe test; add probe to --tests")

    config = AuditConfig(seed=seed)
    if n is not None:
        for name in config:  # every audit's config has n_problems
            config[name] = dataclasses.replace(config[name], n_problems=n)
    if probe is not None:
        from rlaudit.cli.probe import load_probe_or_fail

        saved = load_probe_or_fail(probe)  # a bad file is bad input, found before the model loads
        config["probe"] = dataclasses.replace(config["probe"], probe=probe)

    if use_ray or workers is not None:
        from rlaudit.audits.jobs import TaskSpec

        result = _run_jobs(
            model,
            TaskSpec(task, columns, checker, train_cue, deploy_cue, max_new_tokens),
            names,
            config,
            options,
            reference,
            ray_address,
            use_ray,
            workers,
            as_json,
        )
        _finish(result, task, columns, chosen, options, as_json, html)
        return

    from rlaudit.audits import run_audit

    lm, tokenizer = load_model_or_fail(model, options, quiet=as_json)
    check_chat(chosen, tokenizer, task)
    if probe is not None:
        from rlaudit.cli.probe import check_probe_fits

        check_probe_fits(lm, tokenizer, saved)  # another model's probe is bad input, not a finding
    ref = load_model_or_fail(reference, options, quiet=as_json) if reference is not None else None
    try:
        with running(lm, options, as_json=as_json), checker_errors_fail():
            result = run_audit(lm, tokenizer, chosen, names, config, reference=ref, model_name=model)
    except ImportError as e:  # SFT elicitation needs peft (the train extra); the message says how to get it
        raise fail(str(e)) from None
    _finish(result, task, columns, chosen, options, as_json, html)


def _finish(
    result: Any, task: str, columns: str | None, chosen: Any, options: ModelOptions, as_json: bool, html: Any
) -> None:
    result.provenance.configs["task"] = {
        "task": task,
        "columns": columns,
        "checker": chosen.checker,
        "train_cue": chosen.train_cue,
        "deploy_cue": chosen.deploy_cue,
        "max_new_tokens": chosen.max_new_tokens,
    }
    result.provenance.configs["model"] = options.to_dict()
    emit(result.to_json(), as_json=as_json, html=html)


def _run_jobs(
    model: str,
    task_spec: Any,
    names: tuple[str, ...],
    config: Any,
    options: ModelOptions,
    reference: str | None,
    address: str | None,
    use_ray: bool,
    workers: int | None,
    as_json: bool,
) -> Any:
    """Each test a job (`rlaudit.audits.jobs`) on Ray or a process pool; bad input found in a worker
    (a model that does not load) is still one line and exit 2."""
    from rlaudit.audits.jobs import JobInputError, ModelSpec, run_audit_jobs
    from rlaudit.executors import ExecutorUnavailable, open_executor

    def spec(name: str) -> ModelSpec:
        return ModelSpec(name, options.device, options.dtype, options.trust_remote_code, options.batch_size)

    n = workers or (2 if use_ray else 1)
    try:
        executor = open_executor(
            "ray" if use_ray else "process", workers=n, init=_quiet_worker, address=address
        )
    except ExecutorUnavailable as e:
        raise fail(f"--ray: {e}") from None
    try:
        with running(None, options, as_json=as_json), checker_errors_fail():
            ref = spec(reference) if reference is not None else None
            return run_audit_jobs(spec(model), task_spec, names, config, executor, reference=ref)
    except JobInputError as e:
        raise fail(str(e)) from None
    except Exception as e:  # Ray re-raises a job's error as an instance of both its own type and its cause's
        cause = getattr(e, "cause", None)
        if isinstance(cause, JobInputError):
            raise fail(str(cause)) from None
        raise
    finally:
        executor.close()


def _quiet_worker() -> None:
    """A worker draws no progress bars (the driver's bar counts the tests)."""
    from rlaudit.progress import quiet_process

    quiet_process()
