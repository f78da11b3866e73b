"""The plan file: ``Plan`` <-> JSON, the one home of the format docs/plans.md documents.

``reconcile plan --out FILE`` and ``--output json`` write ``plan_to_json``; ``apply --plan`` and
``show`` read it back with ``plan_from_json``. The JSON form of each value (spec, options,
observed job, dataset, change) is written out here key by key rather than by a generic walker:
the format is a public contract, so each key is written down where it is produced and read.
The snapshot (``reconciler.diff.snapshot``) hashes these same forms.

Writing puts every key in, ``null`` when empty, keys sorted, ASCII only
(``reconciler.sanitize.json_dumps``): two equal plans give the same bytes, and reading the
bytes back gives an equal plan.

Reading is tolerant, so that a plan file outlives additions to the format:

- a key this reconcile does not know is ignored (a newer one may add keys without a new version);
- a missing key takes the default of its value's field, where the field has one; only what has
  no default (a job's id, a change's action, the snapshot, ...) must be there;
- ``format_version`` must be one of ``READABLE_FORMAT_VERSIONS``, and anything else is refused
  with what to do.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from reconciler.core.action import Action
from reconciler.core.marker import Marker
from reconciler.core.observed import Health, JobOutputs, ObservedJob, RemoteDataset
from reconciler.core.plan import (
    Blocker,
    BlockKind,
    Change,
    DeleteMethod,
    FieldChange,
    Guardrails,
    IncompleteProvider,
    Plan,
    PlanOptions,
    PlanOrigin,
    Upload,
)
from reconciler.core.spec import (
    PROVIDERS,
    DatasetKind,
    DatasetRef,
    DesiredJob,
    FineTuneSpec,
    Lifecycle,
    Provider,
    SourceLocation,
)
from reconciler.redact import strip_url_secrets
from reconciler.sanitize import json_dumps

# The version this reconcile writes. 2: jobs carry the repository's owner (the marker and the
# remote name), specs their ``adopt`` and ``lifecycle``.
PLAN_FORMAT_VERSION = 2

# The versions this reconcile reads. A key added to the format needs no new version (readers
# ignore what they do not know, and default what is missing); a renamed or removed key or a
# changed meaning does, and the version before it then stays readable here, through the
# defaults of what it lacks. Version 1 is not read: its plans were made before owners, by
# another pruning rule, and no default stands in for an owner.
READABLE_FORMAT_VERSIONS: tuple[int, ...] = (PLAN_FORMAT_VERSION,)


# Far beyond a plan of 10,000 jobs; a bigger file is no plan, and reading it would only take
# the memory.
MAX_PLAN_FILE_BYTES = 256 * 2**20


class PlanFileError(ValueError):
    """A saved plan that cannot be read: not JSON, a version this reconcile does not read, or a
    required key missing or mistyped."""


# --- The plan ------------------------------------------------------------------------------


def plan_to_json(plan: Plan) -> str:
    """The plan file's text: the versioned JSON form, keys sorted, two-space indent."""
    return json_dumps(plan_to_dict(plan), indent=2, sort_keys=True) + "\n"


def plan_from_json(text: str) -> Plan:
    """A plan from a plan file's text; ``PlanFileError`` for anything else."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanFileError(f"not JSON: {error}; make the plan again") from error
    except RecursionError as error:
        # A plan nests a few levels; thousands are a file made to break the reader.
        raise PlanFileError(
            "not a plan: its JSON is nested too deeply; make the plan again"
        ) from error
    if not isinstance(data, dict):
        raise PlanFileError("not a plan: the file holds no JSON object; make the plan again")
    return plan_from_dict(data)


def read_plan_file(path: Path) -> Plan:
    """The plan saved in ``path``. Raises ``OSError`` when it cannot be read,
    ``UnicodeDecodeError`` when it is not UTF-8, ``PlanFileError`` when it is not a plan: not a
    regular file (a FIFO would block the reader forever, a device never end), larger than
    ``MAX_PLAN_FILE_BYTES``, or not a plan's JSON."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as stream:
        found = os.fstat(descriptor)
        if stat.S_ISDIR(found.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(found.st_mode):
            raise PlanFileError(
                "not a plan file (not a regular file); give the file written by"
                " `reconcile plan --out FILE`"
            )
        data = stream.read(MAX_PLAN_FILE_BYTES + 1)
    if len(data) > MAX_PLAN_FILE_BYTES:
        raise PlanFileError(
            f"not a plan file (larger than {MAX_PLAN_FILE_BYTES // 2**20} MiB); give the file"
            " written by `reconcile plan --out FILE`"
        )
    return plan_from_json(data.decode("utf-8"))


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The versioned JSON form (docs/plans.md): every key always present, None as null."""
    summary = plan.summary
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "snapshot": plan.snapshot,
        "options": options_to_dict(plan.options),
        "summary": {
            "create": summary.create,
            "update": summary.update,
            "replace": summary.replace,
            "delete": summary.delete,
            "noop": summary.noop,
            "blocked": summary.blocked,
            "warnings": summary.warnings,
        },
        "changes": [_change_to_dict(change) for change in plan.changes],
        "unmanaged": [observed_job_to_dict(job) for job in plan.unmanaged],
        "incomplete": [_incomplete_to_dict(i) for i in plan.incomplete],
        "snapshot_items": dict(plan.snapshot_items),
        "made_for": _origin_to_dict(plan.made_for),
        "not_targeted": [{"provider": p, "name": n} for p, n in plan.not_targeted],
    }


def _origin_to_dict(origin: PlanOrigin | None) -> dict[str, Any] | None:
    if origin is None:
        return None
    return {
        "sandbox": origin.sandbox,
        "hosts": dict(origin.hosts),
        "paths": list(origin.paths),
    }


def _origin_from_dict(value: Any) -> PlanOrigin | None:
    if value is None:
        return None
    data = _object(value)
    return PlanOrigin(
        sandbox=_bool(data["sandbox"]),
        **_present(
            data,
            hosts=lambda hosts: tuple(
                (provider_from_json(p), _str(h)) for p, h in sorted(_object(hosts).items())
            ),
            paths=_strings,
        ),
    )


def _snapshot_items_from_dict(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((_str(k), _str(v)) for k, v in _object(value).items()))


def _pairs_from_list(value: Any) -> tuple[tuple[Provider, str], ...]:
    return tuple((provider_from_json(f["provider"]), _str(f["name"])) for f in _list(value))


def _incomplete_to_dict(incomplete: IncompleteProvider) -> dict[str, Any]:
    return {
        "provider": incomplete.provider,
        "error": incomplete.error,
        "refused": incomplete.refused,
        "not_planned": list(incomplete.not_planned),
    }


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """Reads ``plan_to_dict``'s output back (``summary``, derived, is not read); raises
    ``PlanFileError`` on anything else."""
    if "format_version" not in data:
        raise PlanFileError(
            "not a plan file: it has no `format_version`; make the plan again with `reconcile"
            " plan --out FILE`"
        )
    version = data["format_version"]
    if type(version) is not int or version not in READABLE_FORMAT_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_FORMAT_VERSIONS)
        newer = isinstance(version, int) and version > max(READABLE_FORMAT_VERSIONS)
        what = (
            "it was written by a newer reconcile: upgrade reconcile, or make the plan again"
            " with this version"
            if newer
            else "make the plan again with this version"
        )
        raise PlanFileError(
            f"plan format version {version!r} is not supported (this reconcile reads version"
            f" {readable}); {what}"
        )
    try:
        return Plan(
            changes=tuple(_change_from_dict(c) for c in _list(data["changes"])),
            unmanaged=tuple(_observed_job_from_dict(j) for j in _list(data["unmanaged"])),
            options=_options_from_dict(data["options"]),
            snapshot=_str(data["snapshot"]),
            **_present(
                data,
                incomplete=_incomplete_from_list,
                snapshot_items=_snapshot_items_from_dict,
                made_for=_origin_from_dict,
                not_targeted=_pairs_from_list,
            ),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        problem = f"the key {error} is missing" if isinstance(error, KeyError) else error
        raise PlanFileError(
            f"not a plan file of format version {version} ({type(error).__name__}: {problem});"
            " make the plan again with `reconcile plan --out FILE`"
        ) from error


def _incomplete_from_list(value: Any) -> tuple[IncompleteProvider, ...]:
    # ``refused`` and ``not_planned`` are absent from plans written before they existed.
    return tuple(
        IncompleteProvider(
            provider_from_json(i["provider"]),
            _str(i["error"]),
            refused=_bool(i.get("refused", False)),
            not_planned=_strings(i.get("not_planned", [])),
        )
        for i in _list(value)
    )


# --- Reading helpers -----------------------------------------------------------------------


def _present(data: Mapping[str, Any], **readers: Callable[[Any], Any]) -> dict[str, Any]:
    """The keyword arguments for the keys of ``data`` among ``readers``, each read by its
    reader: a key that is missing is left out, so that its field's own default applies."""
    return {key: read(data[key]) for key, read in readers.items() if key in data}


def _object(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {value!r}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _number(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _opt_number(value: Any) -> float | None:
    return None if value is None else _number(value)


def provider_from_json(value: Any) -> Provider:
    if value not in PROVIDERS:
        raise ValueError(f"unknown provider {value!r}")
    provider: Provider = value
    return provider


def _access(value: Any) -> Literal["private", "public"] | None:
    if value is None:
        return None
    if value == "private":
        return "private"
    if value == "public":
        return "public"
    raise ValueError(f"unknown access {value!r}")


def _task_type(value: Any) -> Literal["qa", "not_qa"] | None:
    if value is None:
        return None
    if value == "qa":
        return "qa"
    if value == "not_qa":
        return "not_qa"
    raise ValueError(f"unknown task_type {value!r}")


def _opt_mapping(value: Any) -> dict[str, Any] | None:
    return None if value is None else dict(_object(value))


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(_str(item) for item in _list(value))


def datetime_to_json(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _datetime_from_json(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(_str(value))


def to_json_value(value: Any) -> Any:
    """``value`` as plain JSON data: mappings to dicts, tuples and sets to lists."""
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_json_value(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return value


# --- Options -------------------------------------------------------------------------------


def options_to_dict(options: PlanOptions) -> dict[str, Any]:
    guardrails = options.guardrails
    return {
        "owner": options.owner,
        "prune": options.prune,
        "allow_replace": options.allow_replace,
        "retry_failed": options.retry_failed,
        "guardrails": {
            "max_creates": guardrails.max_creates,
            "max_replaces": guardrails.max_replaces,
            "max_deletes": guardrails.max_deletes,
        },
        "forget": [{"provider": p, "name": n} for p, n in sorted(options.forget)],
        "settle_window": options.settle_window,
        "targets": sorted(options.targets),
        "partial": options.partial,
    }


def _options_from_dict(value: Any) -> PlanOptions:
    return PlanOptions(
        **_present(
            _object(value),
            owner=_opt_str,
            prune=_bool,
            allow_replace=_bool,
            retry_failed=_bool,
            guardrails=_guardrails_from_dict,
            forget=_forget_from_list,
            settle_window=_number,
            targets=lambda targets: frozenset(_strings(targets)),
            partial=_bool,
        )
    )


def _guardrails_from_dict(value: Any) -> Guardrails:
    return Guardrails(
        **_present(_object(value), max_creates=_int, max_replaces=_int, max_deletes=_int)
    )


def _forget_from_list(value: Any) -> frozenset[tuple[Provider, str]]:
    return frozenset(_pairs_from_list(value))


# --- Specs ---------------------------------------------------------------------------------


def spec_to_dict(spec: FineTuneSpec) -> dict[str, Any]:
    """The spec's JSON form. A ``{url:}`` dataset loses its query string and its
    ``user:password@``: a plan file never holds a signature or a password, so apply takes
    such a URL from the loaded spec, which the stale-plan check has proved unchanged
    (``reconciler.diff.snapshot_of`` hashes the whole URL)."""
    dataset = spec.dataset.value
    if spec.dataset.kind is DatasetKind.URL:
        dataset = strip_url_secrets(dataset)
    return {
        "name": spec.name,
        "provider": spec.provider,
        "base_model": spec.base_model,
        "dataset": {"kind": spec.dataset.kind.value, "value": dataset},
        "source": {"file": str(spec.source.file), "line": spec.source.line, "col": spec.source.col},
        "access": spec.access,
        "trigger_word": spec.trigger_word,
        "instance_prompt": spec.instance_prompt,
        "theme": spec.theme,
        "machine_type": spec.machine_type,
        "train_type": spec.train_type,
        "task_type": spec.task_type,
        "csv_columns": None if spec.csv_columns is None else list(spec.csv_columns),
        "base_type": spec.base_type,
        "dataset_type": spec.dataset_type,
        "parameters": to_json_value(spec.parameters),
        "wandb": None if spec.wandb is None else dict(spec.wandb),
        "adopt": list(spec.adopt),
        "lifecycle": {
            "allow_replace": spec.lifecycle.allow_replace,
            "prevent_destroy": spec.lifecycle.prevent_destroy,
        },
        "set_fields": sorted(spec.set_fields),
    }


def _spec_from_dict(value: Any) -> FineTuneSpec:
    data = _object(value)
    dataset = _object(data["dataset"])
    source = _object(data["source"])
    return FineTuneSpec(
        name=_str(data["name"]),
        provider=provider_from_json(data["provider"]),
        base_model=_str(data["base_model"]),
        dataset=DatasetRef(DatasetKind(dataset["kind"]), _str(dataset["value"])),
        source=SourceLocation(
            Path(_str(source["file"])), _int(source["line"]), _int(source["col"])
        ),
        **_present(
            data,
            access=_access,
            trigger_word=_opt_str,
            instance_prompt=_opt_str,
            theme=_opt_str,
            machine_type=_opt_str,
            train_type=_opt_str,
            task_type=_task_type,
            csv_columns=lambda columns: None if columns is None else _strings(columns),
            base_type=_opt_str,
            dataset_type=_opt_str,
            parameters=lambda parameters: _opt_mapping(parameters) or {},
            wandb=_opt_mapping,
            adopt=_strings,
            lifecycle=_lifecycle_from_dict,
            set_fields=lambda fields: frozenset(_strings(fields)),
        ),
    )


def _lifecycle_from_dict(value: Any) -> Lifecycle:
    return Lifecycle(**_present(_object(value), allow_replace=_bool, prevent_destroy=_bool))


def desired_job_to_dict(job: DesiredJob) -> dict[str, Any]:
    return {
        "spec": spec_to_dict(job.spec),
        "dataset_fingerprint": job.dataset_fingerprint,
        "upload_size": job.upload_size,
        "owner": job.owner,
    }


def _desired_job_from_dict(value: Any) -> DesiredJob:
    data = _object(value)
    return DesiredJob(
        spec=_spec_from_dict(data["spec"]),
        **_present(data, dataset_fingerprint=_opt_str, upload_size=_opt_int, owner=_opt_str),
    )


# --- Observed jobs and datasets ------------------------------------------------------------


def marker_to_dict(marker: Marker | None) -> dict[str, str | None] | None:
    if marker is None:
        return None
    return {"name": marker.name, "fingerprint12": marker.fingerprint12, "owner": marker.owner}


def _marker_from_dict(value: Any) -> Marker | None:
    if value is None:
        return None
    data = _object(value)
    return Marker(_str(data["name"]), _str(data["fingerprint12"]), **_present(data, owner=_opt_str))


def observed_job_to_dict(job: ObservedJob) -> dict[str, Any]:
    return {
        "provider": job.provider,
        "remote_id": job.remote_id,
        "name": job.name,
        "raw_status": job.raw_status,
        "health": job.health.value,
        "created_at": datetime_to_json(job.created_at),
        "sequence": job.sequence,
        "owner": job.owner,
        "access": job.access,
        "dataset_ref": job.dataset_ref,
        "marker": marker_to_dict(job.marker),
        "model_id": job.model_id,
        "base_model": job.base_model,
        "base_type": job.base_type,
        "task_type": job.task_type,
        "theme": job.theme,
        "train_type": job.train_type,
        "machine_type": job.machine_type,
        "trigger_word": job.trigger_word,
        "instance_prompt": job.instance_prompt,
        "wandb": None if job.wandb is None else dict(job.wandb),
        "parameters": None if job.parameters is None else to_json_value(job.parameters),
        "error_message": job.error_message,
        "outputs": None if job.outputs is None else job.outputs.to_dict(),
    }


def outputs_from_dict(value: Any) -> JobOutputs | None:
    """A job's outputs from their JSON form (``JobOutputs.to_dict``), as a plan file and the
    remembered outputs (``reconciler.outputs_cache``) hold them."""
    if value is None:
        return None
    data = _object(value)
    return JobOutputs(**_present(data, model_id=_opt_str, weights_url=_opt_str, slug=_opt_str))


def _observed_job_from_dict(value: Any) -> ObservedJob:
    data = _object(value)
    return ObservedJob(
        provider=provider_from_json(data["provider"]),
        remote_id=_str(data["remote_id"]),
        name=_opt_str(data["name"]),
        raw_status=_str(data["raw_status"]),
        health=Health(data["health"]),
        **_present(
            data,
            created_at=_datetime_from_json,
            sequence=_int,
            owner=_opt_str,
            access=_access,
            dataset_ref=_opt_str,
            marker=_marker_from_dict,
            model_id=_opt_str,
            base_model=_opt_str,
            base_type=_opt_str,
            task_type=_opt_str,
            theme=_opt_str,
            train_type=_opt_str,
            machine_type=_opt_str,
            trigger_word=_opt_str,
            instance_prompt=_opt_str,
            wandb=_opt_mapping,
            parameters=_opt_mapping,
            error_message=_opt_str,
            outputs=outputs_from_dict,
        ),
    )


def remote_dataset_to_dict(dataset: RemoteDataset) -> dict[str, Any]:
    return {
        "provider": dataset.provider,
        "remote_id": dataset.remote_id,
        "name": dataset.name,
        "marker": marker_to_dict(dataset.marker),
        "size_bytes": dataset.size_bytes,
        "created_at": datetime_to_json(dataset.created_at),
        "usable": dataset.usable,
        "validating": dataset.validating,
    }


def _remote_dataset_from_dict(value: Any) -> RemoteDataset:
    data = _object(value)
    return RemoteDataset(
        provider=provider_from_json(data["provider"]),
        remote_id=_str(data["remote_id"]),
        name=_str(data["name"]),
        **_present(
            data,
            marker=_marker_from_dict,
            size_bytes=_opt_int,
            created_at=_datetime_from_json,
            usable=_bool,
            validating=_bool,
        ),
    )


# --- Changes -------------------------------------------------------------------------------


def _change_to_dict(change: Change) -> dict[str, Any]:
    upload = change.upload
    blocked = change.blocked
    return {
        "action": change.action.value,
        "provider": change.provider,
        "name": change.name,
        "reason": change.reason,
        "field_changes": [
            {"path": f.path, "remote": to_json_value(f.remote), "desired": to_json_value(f.desired)}
            for f in change.field_changes
        ],
        "desired": None if change.desired is None else desired_job_to_dict(change.desired),
        "current": None if change.current is None else observed_job_to_dict(change.current),
        "history": list(change.history),
        "health": None if change.health is None else change.health.value,
        "upload": None
        if upload is None
        else {
            "path": str(upload.path),
            "size": upload.size,
            "fingerprint": upload.fingerprint,
            "remote_name": upload.remote_name,
            "file_name": upload.file_name,
        },
        "reuse": None if change.reuse is None else remote_dataset_to_dict(change.reuse),
        "target_id": change.target_id,
        "delete_method": None if change.delete_method is None else change.delete_method.value,
        "blocked": None
        if blocked is None
        else {
            "kind": blocked.kind.value,
            "reason": blocked.reason,
            "fix": blocked.fix,
            "until": blocked.until,
        },
    }


def _change_from_dict(value: Any) -> Change:
    data = _object(value)
    return Change(
        action=Action(data["action"]),
        provider=provider_from_json(data["provider"]),
        name=_str(data["name"]),
        reason=_str(data["reason"]),
        **_present(
            data,
            field_changes=_field_changes_from_list,
            desired=lambda desired: None if desired is None else _desired_job_from_dict(desired),
            current=lambda current: None if current is None else _observed_job_from_dict(current),
            history=_strings,
            health=lambda health: None if health is None else Health(health),
            upload=_upload_from_dict,
            reuse=lambda reuse: None if reuse is None else _remote_dataset_from_dict(reuse),
            target_id=_opt_str,
            delete_method=lambda method: None if method is None else DeleteMethod(method),
            blocked=_blocker_from_dict,
        ),
    )


def _field_changes_from_list(value: Any) -> tuple[FieldChange, ...]:
    return tuple(
        FieldChange(_str(f["path"]), f["remote"], f["desired"]) for f in map(_object, _list(value))
    )


def _upload_from_dict(value: Any) -> Upload | None:
    if value is None:
        return None
    data = _object(value)
    return Upload(
        path=Path(_str(data["path"])),
        size=_int(data["size"]),
        fingerprint=_str(data["fingerprint"]),
        remote_name=_str(data["remote_name"]),
        file_name=_str(data["file_name"]),
    )


def _blocker_from_dict(value: Any) -> Blocker | None:
    if value is None:
        return None
    data = _object(value)
    return Blocker(
        BlockKind(data["kind"]),
        _str(data["reason"]),
        _str(data["fix"]),
        **_present(data, until=_opt_number),
    )
