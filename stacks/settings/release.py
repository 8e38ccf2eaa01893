"""The MindIE release line the stacks target: the KMC-free line, MindIE 2.3.0 and later.

Evidence (README "MindIE release line", docs/tls.md):
- KMC left MindIE Motor in `Ascend-MindIE-Motor@1743473` (2025-12-27, "删除KMC相关的代码，修改密码的
  解密逻辑变为直接读取明文密码"): `DecryptPassword` in
  `Ascend-MindIE-Motor@28a7e9f:mindie_service/utils/http_client_ctl/params/ConfigParams.cpp` reads the
  key passphrase as plain text from `tls_passwd` (mode 0400 when files are checked).
- KMC left the server in `Ascend/MindIE-LLM@2ad5b22` (2025-12-31): `HttpSsl::LoadPrivateKey` in
  `Ascend/MindIE-LLM@8b4871a:src/server/endpoint/http_wrapper/http_ssl.cpp` loads the key without any
  passphrase callback, and `tlsPkPwd`/`kmcKsfMaster`/`kmcKsfStandby` are no longer accepted keys
  (`src/config_manager/server_config.cpp`).
- Both repositories name the release of the code before the removal 2.2.RC1 (README 版本说明 at
  `MindIE-LLM@18f6576`, `MindIE-Motor@28a7e9f`) and the first release after it 2.3.0 with CANN 8.5.0
  (README at `MindIE-LLM@8b4871a`, `MindIE-Motor@0b791a0`); the image tag naming is
  `mindie:2.3.0-800I-A2-py311-openeuler24.03-lts`
  (`MindIE-LLM@8b4871a:docs/zh/user_guide/install/source/image_usage_guide.md`).

So a stock image tagged with a release before 2.3.0 (2.0.RC1, 2.1.RC1, 2.2.RC1, ...) is KMC-era: its
programs need the KMC key stores the seed's `import_cert` writes, which this program does not produce.
Validation refuses such a tag wherever a MindIE image is named; a tag that does not start with a
MindIE version (an operator's own naming, a bare digest) cannot be judged from its name and passes.

There is no `mindie:release` setting: only one line is supported, so such a setting would carry no
behaviour, only a second place to get wrong.
"""

from __future__ import annotations

import re
from typing import Optional

from domain.images import image_tag

RELEASE_LINE = "2.3.0"
"""First MindIE release without KMC; the stacks target this release and later ones."""
KMC_FREE_SINCE = (2, 3, 0)
STOCK_IMAGE = "swr.cn-south-1.myhuaweicloud.com/ascendhub/mindie:2.3.0-800I-A2-py311-openeuler24.03-lts"
"""The stock image of the line. The tag is the upstream's documented name (image_usage_guide.md); the
repository path is the one the upstream's model READMEs name for 2.0.T3 (`MindIE-LLM@8b4871a:
examples/atb_models/examples/models/deepseek-r1/README.md`). That this exact tag exists on that
registry is assumed, not verified (no registry is reachable from here)."""

MS_SERVER_HINT = (
    "build the ms-server from Ascend-MindIE-Motor@28a7e9f (KMC removed, Deployer still present) and "
    "tag it accordingly, e.g. registry.example.com/mindie/ms-server:motor-28a7e9f"
)

# <major>.<minor>.<patch> | <major>.<minor>.RC<n> | <major>.<minor>.T<n>, at the start of the tag,
# followed by the end or '-' (the upstream's naming: 2.0.RC1-800I-A2-..., 2.3.0-800I-A2-..., 2.0.T3-...).
# The version leads the tag; whatever follows it starts with "-" or "." (2.3.0-800I-A2-py311-...).
_VERSION = re.compile(r"(\d+)\.(\d+)\.(?:(\d+)|RC(\d+)|T(\d+))(?:[-.].*)?", re.S)


def release_of(reference: str) -> Optional[tuple[int, int, int, int]]:
    """The MindIE release a tag names, as a sortable tuple; None when the tag names none.

    A final release sorts after its RCs and test builds: (2, 3, 0, 2) > (2, 3, -1, 1) (2.3.RC1).
    """
    tag = image_tag(reference)
    match = _VERSION.fullmatch(tag or "")
    if match is None:
        return None
    major, minor, patch, rc, test = match.groups()
    if patch is not None:
        return (int(major), int(minor), int(patch), 2)
    return (int(major), int(minor), -1, 1 if rc is not None else 0)


def is_kmc_era(reference: str) -> bool:
    """True when the tag names a MindIE release before 2.3.0 (its programs still need KMC)."""
    found = release_of(reference)
    return found is not None and found < (*KMC_FREE_SINCE, 2)


def release_problems(images: dict[str, Optional[str]]) -> list[str]:
    """One problem per setting path whose image names a KMC-era release (empty: consistent)."""
    problems = []
    for path, reference in images.items():
        if reference and is_kmc_era(reference):
            # No published release has a KMC-free Deployer: the ms-server is built from Motor's source.
            hint = MS_SERVER_HINT if path.startswith("msServer") else f"use e.g. {STOCK_IMAGE}"
            problems.append(
                f"{path} = {reference!r}: names a KMC-era MindIE release (before {RELEASE_LINE}); this "
                f"program targets the KMC-free line ({RELEASE_LINE} and later: no KMC key stores, no "
                f"import_cert), see README 'MindIE release line'; {hint}"
            )
    return problems
