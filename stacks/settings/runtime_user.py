"""The MindIE runtime user: one UID/GID for the derived images, the pods and every file step.

MindIE checks the owner of what it reads (config, certificates, keys: PathCheck /
CheckOwner upstream) and the stock image installs as root with 750 directories, so
the UID a pod runs as, the UID the derived image owns its install tree with, and
the UID the init steps give the staged files must be one number. This module is
that number's only home: the settings (`mindie:runtimeUser`) hold it and the composition
passes it to the image build arguments (components/mindie_image.py,
components/ms_server_image.py) and the pod security contexts (components/server.py,
components/motor/, components/ms_server.py), so they cannot drift.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from .fields import StrictModel

RUNTIME_UID = 1001
"""Default UID: the seed's (fsGroup 1001, "集群管理组件通过添加配置fsGroup 1001")."""
RUNTIME_GID = 1001
"""Default GID: equal to the UID (the seed: "GID：自定义用户GID，和UID保持一致")."""
MAX_ID = 2147483647
"""Largest UID/GID Linux and Kubernetes (int32 runAsUser) accept."""


def _check_id(value: int) -> int:
    if value == 0:
        raise ValueError(
            f"must not be 0 (root): MindIE runs as a dedicated non-root user; allowed 1 to {MAX_ID}"
        )
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"out of range: allowed 1 to {MAX_ID} (inclusive; 0 is root and refused)")
    return value


NonRootId = Annotated[
    int,
    Field(strict=True, json_schema_extra={"minimum": 1, "maximum": MAX_ID}),
    AfterValidator(_check_id),
]


class RuntimeUser(StrictModel):
    """`mindie:runtimeUser`: the UID/GID every MindIE process runs as and owns its files with."""

    uid: NonRootId = Field(  # type: ignore[valid-type]
        RUNTIME_UID,
        description="UID of every MindIE container (runAsUser), of the derived images' user (build arg "
        "UID) and the owner of staged files; never 0.",
    )
    gid: NonRootId = Field(  # type: ignore[valid-type]
        RUNTIME_GID,
        description="GID (runAsGroup, fsGroup, build arg GID); the seed: equal to uid.",
    )

    @model_validator(mode="after")
    def _gid_is_uid(self) -> RuntimeUser:
        if self.gid != self.uid:
            raise ValueError(f"gid = {self.gid}: must equal uid = {self.uid} (the seed: GID 和UID保持一致)")
        return self
