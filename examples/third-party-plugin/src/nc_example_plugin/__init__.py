"""An example nc plugin (see plugin.py for the registration)."""
