"""Resource files of a task template: compiled once per template, rendered per task,
each with the MD5 of what it downloads (one blob, or a digest of a prefix) so that a
task's fingerprint changes with its inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runner import names, paths
from runner.render.fingerprints import Uploads
from runner.render.renderer import Renderer
from runner.schema import dotted
from runner.spec import ResourceFileSpec, YamlPath
from runner.state import ResourceFile
from runner.templates import Template

_FIELDS = ("blob", "prefix", "url", "path")


class ResourceFiles:
    def __init__(
        self,
        r: Renderer,
        specs: Sequence[ResourceFileSpec],
        path: YamlPath,
        uploads: Uploads,
        item_container: str | None = None,
    ) -> None:
        """`item_container`: the container whose blobs the task's items are (for `item`)."""
        self.r = r
        self.specs = specs
        self.path = path
        self.uploads = uploads
        self.item_container = item_container
        self.templates: list[dict[str, Template]] = [
            {
                field: r.template(value, (*path, i, field))
                for field in _FIELDS
                if (value := getattr(rf, field)) is not None
            }
            for i, rf in enumerate(specs)
        ]

    def all_templates(self) -> list[Template]:
        return [t for fields in self.templates for t in fields.values()]

    def render(self, context: Mapping[str, Any], item: Any, what: str) -> tuple[ResourceFile, ...]:
        out = []
        for rf, fields in zip(self.specs, self.templates, strict=True):
            if rf.item:
                assert self.item_container is not None  # the loader saw to it
                blob = item["blob"]
                out.append(_item_file(self.item_container, blob, item["md5"]))
                continue
            text = {f: self.r.render(t, context, what) for f, t in fields.items()}
            out.append(self._one(rf, text, fields))
        return tuple(out)

    def _one(
        self, rf: ResourceFileSpec, text: dict[str, str | None], fields: dict[str, Template]
    ) -> ResourceFile:
        file_path = text.get("path")
        if file_path is not None and paths.climbs_out(file_path):
            self.r.problem_once(
                fields["path"].path,
                f"{dotted(fields['path'].path)}: '{file_path}' must stay inside the task's "
                "working directory (no absolute path, no '..')",
            )
        if rf.url is not None:
            return ResourceFile(url=text["url"], file_path=file_path, file_mode=rf.mode)
        assert rf.container is not None
        if rf.blob is not None:
            blob = text["blob"] or ""
            if reason := names.check_blob_name(blob):
                self.r.problem_once(
                    fields["blob"].path,
                    f"{dotted(fields['blob'].path)}: '{blob}' is not a valid blob name: {reason}",
                )
            return ResourceFile(
                container=rf.container,
                blob=blob,
                file_path=file_path or blob,
                file_mode=rf.mode,
                md5=self.uploads.md5(rf.container, blob),
            )
        prefix = text.get("prefix") or ""
        return ResourceFile(
            container=rf.container,
            prefix=prefix,
            file_path=file_path,
            file_mode=rf.mode,
            md5=self.uploads.under(rf.container, prefix),
        )


def _item_file(container: str, blob: str, md5: str | None) -> ResourceFile:
    """`ResourceFile(container=container, blob=blob, file_path=blob, md5=md5)`, made for
    every task of a fan-out over a container: positional arguments are the cheapest call
    (small objects keep their fields inline, which `runner.frozen.assemble` would undo)."""
    return ResourceFile(container, blob, None, None, blob, None, md5)
