"""The MindIE CrossGuard policy pack (rules in policy/rules/, one module per rule family)."""
