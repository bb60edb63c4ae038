"""Helpers shared by the test tiers: a scriptable HTTP receiver, and more."""
