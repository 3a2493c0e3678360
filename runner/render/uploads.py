"""The local files each container uploads: globs expanded inside the directories a spec
may read (`runner.paths`), blob names checked, sizes and MD5s (cached in BWF_HOME)."""

from __future__ import annotations

from runner import inputs, names, paths
from runner.digests import DigestCache
from runner.render.renderer import Renderer
from runner.schema import dotted
from runner.spec import ContainerSpec, YamlPath
from runner.state import Upload


def uploads(r: Renderer) -> dict[str, tuple[Upload, ...]]:
    """Container key -> its uploads; a glob that matches nothing or reaches outside is a
    problem located at its pattern."""
    out: dict[str, tuple[Upload, ...]] = {}
    digests = DigestCache(r.spec.path)
    for key, c in r.spec.containers.items():
        out[key] = _container_uploads(r, key, c, digests)
    digests.save()
    return out


def _container_uploads(
    r: Renderer, key: str, c: ContainerSpec, digests: DigestCache
) -> tuple[Upload, ...]:
    base = r.spec.base_dir
    roots = r.allowed.upload_roots(str(base))
    seen: dict[str, str] = {}
    ups: list[Upload] = []
    for i, u in enumerate(c.uploads):
        path: YamlPath = ("storage", "containers", key, "upload", i)
        try:
            matches = inputs.glob_files(base, u.pattern, roots)
        except paths.Outside as e:
            refusal = paths.upload_refusal(u.pattern, e, str(base))
            r.problem(path, f"{dotted(path)}: {refusal}")
            continue
        digests.prefetch([(local, st) for local, _, st in matches])
        if not matches:
            r.problem(
                path,
                f"{dotted(path)}: '{u.pattern}' matches no file (paths are relative to the spec file)",
            )
            continue
        for local, rel, st in matches:
            blob = u.prefix + rel
            if reason := names.check_blob_name(blob):
                r.problem(path, f"{dotted(path)}: blob name '{blob}' is not valid: {reason}")
                continue
            if blob in seen:
                if seen[blob] != local:
                    r.problem(
                        path,
                        f"{dotted(path)}: blob '{blob}' comes from both {seen[blob]} and {local}",
                    )
                continue
            seen[blob] = local
            ups.append(
                Upload(local_path=local, blob=blob, size=st.st_size, md5=digests.md5(local, st))
            )
    return tuple(ups)
