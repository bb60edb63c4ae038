"""Declarative config: `hookd apply -f hookd.yaml` and `hookd export`.

    model    the file's shape (pydantic), its JSON Schema, loading with paths in errors
    refs     secrets by reference: {env: NAME} or {file: path}, never inline
    plan     what apply would change: create / update / delete per object, field by field
    apply    carry a plan out through the services the API uses
    export   today's state as a file apply accepts (secrets as references)

Objects are matched by stable keys: an org by name, an app by uid, an event
type by (app, name), a webhook by (app, name) or, when names repeat, by `id`.
"""

from __future__ import annotations

from hookd.declarative.model import Config, ConfigError, Problem, load, schema

__all__ = ["Config", "ConfigError", "Problem", "load", "schema"]
