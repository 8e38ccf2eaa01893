"""The settings layer: the validated `mindie:*` stack config (pydantic models; no Pulumi resources).

`stack.load_settings()` reads and validates a whole stack; the other modules hold one section each.
"""
