"""Container tasks, autoscale and required slots in the spec: located errors, the plan
(text and JSON, no password anywhere), and the Batch bodies built from them (no
network)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from azure.batch import models as m

from runner.autoscale_formula import pending_tasks_formula
from runner.batch.models import pool_options, task_options
from runner.compute import Autoscale
from runner.errors import SpecError
from runner.load import load_spec
from runner.plan import diff
from runner.plan_json import to_json
from runner.render import render
from runner.resolver import Resolver
from runner.show import render_plan
from runner.state import Desired, Observed, ResourceFile
from tests.helpers import MINIMAL, fanned, observed_pool, write_spec

POOL = "  image: ubuntu-22.04\n"
TASK = "    command: cat {{ item.name }}\n"
ACR = "bwfdemo.azurecr.io"
CONTAINERS = (
    POOL + "  task_slots_per_node: 4\n"
    "  container:\n"
    f"    images: [{ACR}/tools/topn:1.2, busybox]\n"
    f"    registries: [{{server: {ACR}, username: puller, password_env: BWF_TEST_ACR_PASSWORD}}]\n"
)
TASK_CONTAINER = (
    TASK + f"    container: {{image: '{ACR}/tools/topn:1.2', options: '--rm', workdir: image}}\n"
    "    required_slots: 2\n"
)


def spec_text(pool: str = POOL, task: str = TASK) -> str:
    return MINIMAL.replace(POOL, pool).replace(TASK, task)


def problems(tmp_path: Path, text: str, target: str | None = None) -> list[str]:
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load_spec(path, target=target)
    return [str(p).removeprefix(f"{path}:") for p in e.value.problems]


def desired(tmp_path: Path, pool: str = POOL, task: str = TASK) -> Desired:
    return render(load_spec(write_spec(tmp_path, spec_text(pool, task))))


def test_a_container_task_needs_a_pool_with_containers(tmp_path: Path) -> None:
    task = TASK + "    container: {image: busybox}\n"
    assert problems(tmp_path, spec_text(task=task)) == [
        "17:5: job.tasks.container: a container task needs a pool with containers (pool.container)"
    ]


@pytest.mark.parametrize("image", ["Busybox", "busybox:", "a b", "host/x@sha256:12"])
def test_a_bad_image_reference_is_located(tmp_path: Path, image: str) -> None:
    pool = POOL + f"  container: {{images: ['{image}']}}\n"
    (problem,) = problems(tmp_path, spec_text(pool=pool))
    assert problem.startswith("11:24: ")
    assert "pool.container.images[0]" in problem and "an image reference" in problem


def test_an_image_of_an_undeclared_private_registry_is_located(tmp_path: Path) -> None:
    pool = POOL + "  container: {images: [busybox]}\n"
    task = TASK + "    container: {image: other.azurecr.io/x:1}\n"
    assert problems(tmp_path, spec_text(pool=pool, task=task)) == [
        "18:24: job.tasks.container.image: 'other.azurecr.io/x:1' comes from registry "
        "'other.azurecr.io', which is not declared in pool.container.registries (with its "
        "username and password_env)"
    ]


def test_required_slots_above_the_pool_s_slots_are_located(tmp_path: Path) -> None:
    task = TASK + "    required_slots: 3\n"
    pool = POOL + "  task_slots_per_node: 2\n"
    assert problems(tmp_path, spec_text(pool=pool, task=task)) == [
        "18:21: job.tasks.required_slots: 3 is more than the pool's task_slots_per_node (2): "
        "the task could never run"
    ]


def test_autoscale_and_fixed_node_counts_exclude_each_other(tmp_path: Path) -> None:
    pool = POOL + "  nodes: 2\n  autoscale: {min: 0, max: 4, tasks_per_node: 2}\n"
    assert problems(tmp_path, spec_text(pool=pool)) == [
        "11:3: pool.nodes: give nodes or autoscale, not both (an autoscale pool's formula sets its size)"
    ]


def test_autoscale_short_form_needs_all_three_and_min_at_most_max(tmp_path: Path) -> None:
    pool = POOL + "  autoscale: {min: 0, max: 4}\n"
    assert problems(tmp_path, spec_text(pool=pool)) == [
        "11:3: pool.autoscale: give formula, or min, max and tasks_per_node (missing tasks_per_node)"
    ]
    pool = POOL + "  autoscale: {min: 5, max: 4, tasks_per_node: 1}\n"
    assert problems(tmp_path, spec_text(pool=pool)) == [
        "11:20: pool.autoscale.min: 5 is more than max (4)"
    ]


def test_an_interval_under_five_minutes_is_refused_for_azure_only(tmp_path: Path) -> None:
    pool = POOL + "  autoscale: {min: 0, max: 4, tasks_per_node: 2, interval: 2s}\n"
    text = spec_text(pool=pool)
    assert problems(tmp_path, text, target="azure") == [
        "11:60: pool.autoscale.interval: must be from 5m to 168h on Azure"
    ]
    assert load_spec(write_spec(tmp_path, text), target="local").pool.autoscale is not None
    too_long = POOL + "  autoscale: {formula: '$TargetDedicatedNodes = 1;', interval: 169h}\n"
    assert problems(tmp_path, spec_text(pool=too_long)) == [
        "11:64: pool.autoscale.interval: must be from 1s to 168h"
    ]


def test_the_short_form_is_written_as_the_pending_tasks_formula(tmp_path: Path) -> None:
    pool = POOL + "  autoscale: {min: 0, max: 5, tasks_per_node: 2, interval: 10m}\n"
    d = desired(tmp_path, pool=pool)
    assert d.pool.autoscale == Autoscale(pending_tasks_formula(0, 5, 2), 600)
    assert (d.pool.dedicated_nodes, d.pool.spot_nodes) == (0, 0)
    text = render_plan(diff(d, Observed.empty()))
    assert "+ pool       p  standard_d2s_v3 nodes, autoscaled, 1 slot per node" in text
    assert "autoscale every 10m, formula:" in text
    for line in pending_tasks_formula(0, 5, 2).strip().splitlines():
        assert line in text  # the formula in full
    body = pool_options(d.pool, Resolver(d, None))  # type: ignore[arg-type]
    assert body.enable_auto_scale is True and body.target_dedicated_nodes is None
    assert body.auto_scale_formula == d.pool.autoscale.formula  # type: ignore[union-attr]
    assert body.auto_scale_evaluation_interval == timedelta(minutes=10)


def _live(d: Desired, autoscale: Autoscale | None, **kw: int) -> Observed:
    pool = observed_pool(
        d,
        dedicated_target=kw.get("dedicated", 3),
        spot_target=0,
        current_dedicated=kw.get("dedicated", 3),
        current_spot=0,
        autoscale=autoscale,
    )
    return Observed(pool=pool)


def test_a_changed_formula_enables_autoscale_again_and_a_removed_one_disables_it(
    tmp_path: Path,
) -> None:
    pool = POOL + "  autoscale: {formula: '$TargetDedicatedNodes = 2;', interval: 5m}\n"
    d = desired(tmp_path, pool=pool)
    (a,) = [
        x
        for x in diff(d, _live(d, Autoscale("$TargetDedicatedNodes = 1;", 300))).actions
        if x.kind == "pool"
    ]
    assert (a.change, a.reason, a.autoscale_change) == ("update", "autoscale changed", "enable")  # type: ignore[attr-defined]
    (a,) = [x for x in diff(d, _live(d, d.pool.autoscale)).actions if x.kind == "pool"]
    assert a.change == "noop"  # its targets moved with the formula: no change
    fixed = desired(tmp_path / "fixed", pool=POOL + "  nodes: 2\n")
    plan = diff(fixed, _live(fixed, Autoscale("$TargetDedicatedNodes = 3;", 300)))
    (a,) = [x for x in plan.actions if x.kind == "pool"]
    assert a.change == "update" and a.autoscale_change == "disable"  # type: ignore[attr-defined]
    assert a.reason == "autoscale removed, node count changed"
    assert "nodes 3+0 -> 2+0" in render_plan(plan)


def test_a_changed_container_image_replaces_the_pool_and_reruns_the_task(tmp_path: Path) -> None:
    before = desired(tmp_path, pool=CONTAINERS, task=TASK_CONTAINER)
    after = desired(
        tmp_path / "b",
        pool=CONTAINERS.replace("topn:1.2", "topn:1.3"),
        task=TASK_CONTAINER.replace("topn:1.2", "topn:1.3"),
    )
    assert before.pool.fingerprint != after.pool.fingerprint
    assert fanned(before)[0].fingerprint != fanned(after)[0].fingerprint
    plain = desired(tmp_path / "c")
    assert (
        fanned(plain)[0].fingerprint
        != fanned(desired(tmp_path / "d", pool=CONTAINERS, task=TASK + "    required_slots: 2\n"))[
            0
        ].fingerprint
    )


def test_the_plan_shows_images_and_slots_and_never_a_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cret-registry-password"
    monkeypatch.setenv("BWF_TEST_ACR_PASSWORD", secret)
    d = desired(tmp_path, pool=CONTAINERS, task=TASK_CONTAINER)
    plan = diff(d, Observed.empty())
    text = render_plan(plan)
    assert f"container images: {ACR}/tools/topn:1.2, busybox" in text
    assert f"registry {ACR} user puller, password <redacted> (from $BWF_TEST_ACR_PASSWORD)" in text
    assert (
        f"in container {ACR}/tools/topn:1.2 (options: --rm) in the image's working directory"
        in text
    )
    assert "2 slots each" in text
    data = json.dumps(to_json(plan))
    assert secret not in text and secret not in data
    (pool,) = [a for a in to_json(plan)["actions"] if a["kind"] == "pool"]
    assert pool["details"]["container_images"] == [f"{ACR}/tools/topn:1.2", "busybox"]
    assert pool["details"]["container_registries"] == [
        {"server": ACR, "username": "puller", "password_env": "BWF_TEST_ACR_PASSWORD"}
    ]
    (step,) = to_json(plan)["steps"]
    assert step["required_slots"] == 2 and step["container"]["image"] == f"{ACR}/tools/topn:1.2"


class _Signer(Resolver):
    """A resolver whose SAS URLs are fixed (no storage account needed)."""

    def sas(self, key: str, kind: str) -> str:
        return f"https://example/{key}?sig=x"

    def resource(self, rf: ResourceFile) -> dict[str, str | None]:
        return {"http_url": "https://example/x?sig=x", "file_path": "x"}


def test_batch_bodies_carry_container_settings_and_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BWF_TEST_ACR_PASSWORD", "s3cret-registry-password")
    d = desired(tmp_path, pool=CONTAINERS, task=TASK_CONTAINER)
    r = _Signer(d, None)  # type: ignore[arg-type]
    pool = pool_options(d.pool, r).as_dict()
    config = pool["virtualMachineConfiguration"]["containerConfiguration"]
    assert config == {
        "type": "dockerCompatible",
        "containerImageNames": [f"{ACR}/tools/topn:1.2", "busybox"],
        "containerRegistries": [
            {"registryServer": ACR, "username": "puller", "password": "s3cret-registry-password"}
        ],
    }
    task = task_options(fanned(d)[0], r).as_dict()
    assert task["requiredSlots"] == 2
    assert task["containerSettings"] == {
        "imageName": f"{ACR}/tools/topn:1.2",
        "containerRunOptions": "--rm",
        "workingDirectory": "containerImageDefault",
        "registry": {
            "registryServer": ACR,
            "username": "puller",
            "password": "s3cret-registry-password",
        },
    }
    plain = task_options(replace(fanned(d)[0], container=None, required_slots=1), r).as_dict()
    assert "containerSettings" not in plain and "requiredSlots" not in plain
    assert isinstance(m.ContainerWorkingDirectory.TASK_WORKING_DIRECTORY.value, str)


def test_a_missing_password_variable_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BWF_TEST_ACR_PASSWORD", raising=False)
    d = desired(tmp_path, pool=CONTAINERS, task=TASK_CONTAINER)
    from runner.errors import BwfError

    with pytest.raises(BwfError, match=r"read from \$BWF_TEST_ACR_PASSWORD, which is not set"):
        pool_options(d.pool, _Signer(d, None))  # type: ignore[arg-type]
