"""The MindIE deployment as a Pulumi program: load settings, build components, export.

`pulumi up` runs this file; so does `python -m mindiectl preview` (under Pulumi's
mock runtime). Settings are validated before anything is declared.
"""

import pulumi

from stacks.composition import build
from stacks.settings.stack import load_settings

settings = load_settings()
for key, value in build(settings, pulumi.get_stack()).items():
    pulumi.export(key, value)
