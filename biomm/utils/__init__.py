"""Small shared helpers: guarded imports, atomic writes."""
