"""Routes by resource; each calls a service and shapes its answer."""
