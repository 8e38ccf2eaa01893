"""The MindIE CrossGuard policy pack (rules in policy/rules.py)."""
