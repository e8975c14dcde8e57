"""The public face for boot-strategy authors: hookimpl, the hook specifications, the typed context, templating and the manager that loads strategies."""
