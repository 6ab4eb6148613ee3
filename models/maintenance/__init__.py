"""Keeping an installation: backups and restores, configuration presets, demonstration data."""
