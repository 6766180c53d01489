"""Jinja2 templates rendered by reactorc (shipped in the wheel as reactorc.templates)."""
