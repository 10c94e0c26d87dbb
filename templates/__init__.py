"""Built-in prompt dialects (one Jinja template per model family), shipped as shotlist.templates."""
